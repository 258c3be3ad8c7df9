package labelname

import "testing"

func TestClassic(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"policy":                    "policy",
		"label:app.kubernetes.io/n": "label_app_kubernetes_io_n",
		"9lives":                    "_9lives",
		"a9":                        "a9",
		"__reserved":                "__reserved",
		"größe":                     "gr__e",
		"x-y z":                     "x_y_z",
	} {
		if got := Classic(in); got != want {
			t.Errorf("Classic(%q) = %q, want %q", in, got, want)
		}
	}
}
