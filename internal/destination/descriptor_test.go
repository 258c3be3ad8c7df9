package destination

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// descriptors are the registered descriptors (package sender's), by type.
var descriptors = func() map[v1alpha1.DestinationType]Descriptor {
	m := map[v1alpha1.DestinationType]Descriptor{}
	for _, d := range Descriptors() {
		m[d.Type] = d
	}
	return m
}()

// blockField is one JSON field of a destination block.
type blockField struct {
	name string
	kind reflect.Kind
}

// blocks returns every destination block of the API by JSON name (its destination type), with
// its JSON fields, inline structs flattened, as the API server and Resolve see them.
func blocks(t *testing.T) map[string][]blockField {
	t.Helper()
	out := map[string][]blockField{}
	dt := reflect.TypeOf(v1alpha1.Destinations{})
	for i := range dt.NumField() {
		f := dt.Field(i)
		name, _ := jsonName(f)
		if f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
			t.Fatalf("Destinations.%s is not a pointer to a block struct", f.Name)
		}
		out[name] = jsonFields(f.Type.Elem())
	}
	return out
}

func jsonName(f reflect.StructField) (string, bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name, f.Anonymous && name == "" && strings.Contains(opts, "inline")
}

func jsonFields(t reflect.Type) []blockField {
	var out []blockField
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := jsonName(f)
		switch {
		case inline:
			out = append(out, jsonFields(f.Type)...)
		case name != "" && name != "-":
			out = append(out, blockField{name, f.Type.Kind()})
		}
	}
	return out
}

// TestDescriptorsCoverTheAPI walks every field of every destination block, so that a field
// added to the API without saying whether it is an endpoint, a credential or neither fails
// here (and is then stripped from, or kept for, a channel of another namespace by design).
func TestDescriptorsCoverTheAPI(t *testing.T) {
	apiBlocks := blocks(t)
	for name := range apiBlocks {
		if _, ok := descriptors[v1alpha1.DestinationType(name)]; !ok {
			t.Errorf("destination block %s has no descriptor", name)
		}
	}
	for typ, d := range descriptors {
		if d.Type != typ {
			t.Errorf("descriptor under %s says its type is %s", typ, d.Type)
		}
		fields, ok := apiBlocks[string(typ)]
		if !ok {
			t.Errorf("descriptor %s has no block in Destinations", typ)
			continue
		}
		classOf := map[string][]string{}
		for class, names := range map[string][]string{"Endpoint": d.Endpoint, "Credential": d.Credential, "Other": d.Other} {
			for _, n := range names {
				classOf[n] = append(classOf[n], class)
			}
		}
		known := map[string]reflect.Kind{}
		for _, f := range fields {
			known[f.name] = f.kind
			if c := classOf[f.name]; len(c) != 1 {
				t.Errorf("%s.%s is in classes %v: put it in exactly one of Endpoint, Credential, Other", typ, f.name, c)
			}
		}
		for _, k := range d.SecretKeys {
			if c := classOf[k]; len(c) != 1 {
				t.Errorf("%s Secret key %s is in classes %v: put it in exactly one of Endpoint, Credential, Other", typ, k, c)
			}
		}
		for n := range classOf {
			if _, field := known[n]; !field && !slices.Contains(d.SecretKeys, n) {
				t.Errorf("%s classifies %s, which is neither a field of its block nor a Secret key", typ, n)
			}
		}
		for _, k := range d.Required {
			kind, field := known[k]
			switch {
			case !field && !slices.Contains(d.SecretKeys, k):
				t.Errorf("%s requires %s, which is neither a field of its block nor a Secret key", typ, k)
			case field && kind != reflect.String:
				t.Errorf("%s requires %s, a %s field: settings only hold strings", typ, k, kind)
			}
		}
	}
}

// TestDestinationTypeNamesItsBlock holds DestinationType() (a switch in the API package) to the
// block names the descriptors are keyed by.
func TestDestinationTypeNamesItsBlock(t *testing.T) {
	dt := reflect.TypeOf(v1alpha1.Destinations{})
	for i := range dt.NumField() {
		f := dt.Field(i)
		var d v1alpha1.Destinations
		reflect.ValueOf(&d).Elem().Field(i).Set(reflect.New(f.Type.Elem()))
		if name, _ := jsonName(f); string(d.DestinationType()) != name {
			t.Errorf("with only %s set, DestinationType() = %q", name, d.DestinationType())
		}
	}
}

var celRule = regexp.MustCompile(`\+kubebuilder:validation:XValidation:rule="([^"]*)"`)

// TestRequiredSettingsHaveCELRules holds the NotificationTarget's CEL rules to the descriptors'
// Required settings, so the API server refuses at apply time what CheckComplete would stall on,
// as far as it can tell without reading the Secret.
func TestRequiredSettingsHaveCELRules(t *testing.T) {
	src, err := os.ReadFile("../../api/v1alpha1/notificationtarget_types.go")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, m := range celRule.FindAllStringSubmatch(string(src), -1) {
		rules = append(rules, m[1])
	}
	has := func(pred func(string) bool) bool { return slices.ContainsFunc(rules, pred) }
	apiBlocks := blocks(t)
	for _, d := range Descriptors() {
		typ := string(d.Type)
		// A destination that needs a Secret-only key needs secretRef; past that, CEL cannot tell
		// which keys the Secret holds.
		needsSecret := has(func(r string) bool {
			return strings.Contains(r, "has(self."+typ+")") && strings.HasSuffix(r, "|| has(self.secretRef)")
		})
		for _, k := range d.Required {
			inline := slices.ContainsFunc(apiBlocks[typ], func(f blockField) bool { return f.name == k })
			fromSecret := slices.Contains(d.SecretKeys, k)
			var ok bool
			switch {
			case !inline:
				ok = needsSecret
			case !fromSecret:
				ok = has(func(r string) bool { return r == "!has(self."+typ+") || has(self."+typ+"."+k+")" })
			default:
				ok = needsSecret || has(func(r string) bool {
					return strings.HasPrefix(r, "has(self.secretRef) ||") && strings.Contains(r, "(!has(self."+typ+") || has(self."+typ+"."+k+"))")
				})
			}
			if !ok {
				t.Errorf("%s requires %s but no CEL rule of NotificationTargetSpec checks it", typ, k)
			}
		}
	}
}

var (
	oneDestinationRule = regexp.MustCompile(`rule="\[(has\(self\.\w+\)(?:, has\(self\.\w+\))*)\]\.filter\(x, x\)\.size\(\) (?:==|<=) 1",message="([^"]*)"`)
	hasField           = regexp.MustCompile(`has\(self\.(\w+)\)`)
)

// TestOneDestinationRulesListEveryBlock holds the CEL rules that allow one destination block (a
// target's exactly one, a channel's at most one) to the blocks of Destinations: a block missing
// from a rule would let a target set it next to another. The messages name them all too.
func TestOneDestinationRulesListEveryBlock(t *testing.T) {
	var want []string
	for name := range blocks(t) {
		want = append(want, name)
	}
	slices.Sort(want)
	for _, file := range []string{"notificationtarget_types.go", "targetchannel_types.go"} {
		src, err := os.ReadFile("../../api/v1alpha1/" + file)
		if err != nil {
			t.Fatal(err)
		}
		m := oneDestinationRule.FindStringSubmatch(string(src))
		if m == nil {
			t.Errorf("%s has no rule allowing one destination block", file)
			continue
		}
		var listed []string
		for _, h := range hasField.FindAllStringSubmatch(m[1], -1) {
			listed = append(listed, h[1])
		}
		slices.Sort(listed)
		if !slices.Equal(listed, want) {
			t.Errorf("%s: the one-destination rule lists %v, want every block %v", file, listed, want)
		}
		for _, name := range want {
			if !regexp.MustCompile(`\b`+name+`\b`).MatchString(m[2]) && !strings.Contains(m[2], "of the target's destination type") {
				t.Errorf("%s: the one-destination rule's message does not name %s", file, name)
			}
		}
	}
}
