// Package docs holds the reference pages the README links to (Markdown, with the console's
// screenshots under console/). It has no code: its test checks that every relative link of the
// README and of these pages resolves, so moving or renaming a page breaks the build.
package docs
