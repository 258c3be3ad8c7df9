package sender

import (
	"reflect"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// withSettings returns cfg with its destination resolved once, for every sender: the block of
// cfg.Type (created when cfg has none) with each string field whose JSON name has a non-empty
// setting taking that setting, as a Secret's value wins over the inline field (see
// destination.Resolve). Senders read their settings from the block, and cfg.Settings only for
// the keys that have no field in it (tokens, passwords and keys, which only a Secret holds).
func withSettings(cfg Config) Config {
	d := &v1alpha1.Destinations{}
	if cfg.Destination != nil {
		d = cfg.Destination.DeepCopy()
	}
	v := reflect.ValueOf(d).Elem()
	for i := range v.NumField() {
		if jsonName(v.Type().Field(i)) != string(cfg.Type) {
			continue
		}
		block := v.Field(i)
		if block.IsNil() {
			block.Set(reflect.New(block.Type().Elem()))
		}
		setStrings(block.Elem(), cfg.Settings)
	}
	cfg.Destination = d
	return cfg
}

// setStrings sets the string fields of the struct v (inline structs flattened) that have a
// non-empty value in s.
func setStrings(v reflect.Value, s map[string]string) {
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		switch {
		case sf.Anonymous && f.Kind() == reflect.Struct:
			setStrings(f, s)
		case f.Kind() == reflect.String && s[jsonName(sf)] != "":
			f.SetString(s[jsonName(sf)])
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}
