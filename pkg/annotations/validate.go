package annotations

import (
	"fmt"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
)

// maxInterfaceName is IFNAMSIZ minus the terminating NUL.
const maxInterfaceName = 15

// ValidateInterfaceName reports whether the kernel and libcni would accept
// name as a network interface name: 1..15 bytes, not "." or "..", and no
// '/', ':', whitespace or control characters.
func ValidateInterfaceName(name string) error {
	if reason := interfaceNameProblem(name); reason != "" {
		return fmt.Errorf("interface name %q %s", clip(name), reason)
	}
	return nil
}

// interfaceNameProblem returns why name is not a valid interface name, or "".
func interfaceNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxInterfaceName:
		return fmt.Sprintf("is longer than %d characters", maxInterfaceName)
	case name == "." || name == "..":
		return "is not a valid interface name"
	case !utf8.ValidString(name):
		// JSON (network-status, CNI results) cannot carry it unchanged.
		return "is not valid utf-8"
	}
	for i := 0; i < len(name); i++ {
		// The kernel's isspace() also counts byte 0xa0 (latin-1 no-break space).
		if name[i] == 0xa0 {
			return "contains whitespace"
		}
	}
	for _, r := range name {
		switch {
		case r == '/' || r == ':':
			return fmt.Sprintf("contains %q", r)
		case unicode.IsSpace(r):
			return "contains whitespace"
		case unicode.IsControl(r):
			return "contains a control character"
		}
	}
	return ""
}

// networkNameProblem returns why name is not a valid NAD name, or "".
func networkNameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "is not a valid network name: " + strings.Join(errs, "; ")
	}
	return ""
}

// namespaceProblem returns why ns is not a valid namespace name, or "".
func namespaceProblem(ns string) string {
	if ns == "" {
		return "is empty"
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "is not a valid namespace: " + strings.Join(errs, "; ")
	}
	return ""
}

// ipProblem accepts "ip" or "ip/prefix" and returns why s is neither, or "".
func ipProblem(s string) string {
	if strings.Contains(s, "/") {
		if _, _, err := net.ParseCIDR(s); err != nil {
			return "is not a valid ip/prefix"
		}
		return ""
	}
	if net.ParseIP(s) == nil {
		return "is not a valid ip address"
	}
	return ""
}
