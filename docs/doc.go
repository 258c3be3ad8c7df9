// Package docs holds the reference pages the README links to (Markdown, with the console's
// screenshots under console/). It has no code; its tests keep the pages reachable: every
// relative link of the README and of these pages resolves, every page is listed under the
// README's "Read on", and CI runs the test command the README's Quick start gives.
package docs
