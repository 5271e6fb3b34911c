package annotations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
)

// The JSON form is decoded field by field, not into a struct, so that a wrong
// type is reported with its entry and field. Keys match fields as in
// encoding/json, which Multus uses (see objectFields). Unknown fields are
// ignored, as Multus ignores them, and null means "absent".

func parseJSONList(annotation, value, podNamespace string) ([]NetworkSelection, *Error) {
	var raws []json.RawMessage
	if err := json.Unmarshal([]byte(value), &raws); err != nil {
		return nil, &Error{Annotation: annotation, Entry: -1, Reason: "is not a valid json list: " + err.Error()}
	}
	if len(raws) == 0 {
		return nil, nil
	}
	sels := make([]NetworkSelection, 0, len(raws))
	for i, raw := range raws {
		sel, err := parseJSONEntry(annotation, i, raw, podNamespace)
		if err != nil {
			return nil, err
		}
		sels = append(sels, sel)
	}
	return sels, nil
}

// entryDecoder decodes the fields of one JSON entry, keeping the first error.
type entryDecoder struct {
	annotation string
	entry      int
	fields     map[string]json.RawMessage
	err        *Error
}

func (d *entryDecoder) fail(field, value, reason string) {
	if d.err == nil {
		d.err = &Error{Annotation: d.annotation, Entry: d.entry, Field: field, Value: value, Reason: reason}
	}
}

// raw returns the field's JSON, or nil when it is absent or null.
func (d *entryDecoder) raw(field string) json.RawMessage {
	r, ok := d.fields[field]
	if !ok || isNull(r) {
		return nil
	}
	return r
}

func (d *entryDecoder) string(field string) string {
	return d.stringOf(field, d.raw(field))
}

func (d *entryDecoder) stringOf(field string, r json.RawMessage) string {
	var s string
	if r == nil || d.err != nil {
		return ""
	}
	if err := json.Unmarshal(r, &s); err != nil {
		d.fail(field, "", "must be a string, not "+kind(r))
	}
	return s
}

// list returns the elements of a JSON list field, or nil when it is absent.
func (d *entryDecoder) list(field string, r json.RawMessage) []json.RawMessage {
	var elems []json.RawMessage
	if r == nil || d.err != nil {
		return nil
	}
	if err := json.Unmarshal(r, &elems); err != nil {
		d.fail(field, "", "must be a list, not "+kind(r))
	}
	return elems
}

// object returns the members of a JSON object field, keyed by the fields
// they set, or nil when it is absent.
func (d *entryDecoder) object(field string, r json.RawMessage, fields fieldSet) map[string]json.RawMessage {
	var members map[string]json.RawMessage
	if r == nil || d.err != nil {
		return nil
	}
	if err := json.Unmarshal(r, &members); err != nil || members == nil {
		d.fail(field, "", "must be an object, not "+kind(r))
		return nil
	}
	if fields != nil {
		members = objectFields(r, fields)
	}
	return members
}

// integer decodes an integer field of an object and checks it is in [lo, hi].
func (d *entryDecoder) integer(field string, r json.RawMessage, lo, hi int64) int64 {
	var n int64
	if r == nil || isNull(r) || d.err != nil {
		return 0
	}
	inRange := fmt.Sprintf("is not an integer in range %d..%d", lo, hi)
	if err := json.Unmarshal(r, &n); err != nil {
		if k := kind(r); k != "a number" {
			d.fail(field, "", "must be an integer, not "+k)
		} else {
			d.fail(field, string(bytes.TrimSpace(r)), inRange)
		}
		return 0
	}
	if n < lo || n > hi {
		d.fail(field, fmt.Sprint(n), inRange)
	}
	return n
}

func parseJSONEntry(annotation string, entry int, raw json.RawMessage, podNamespace string) (NetworkSelection, *Error) {
	d := &entryDecoder{annotation: annotation, entry: entry}
	if err := json.Unmarshal(raw, &d.fields); err != nil || d.fields == nil {
		reason := "must be a json object, not " + kind(raw)
		var typeErr *json.UnmarshalTypeError
		if err != nil && !errors.As(err, &typeErr) {
			reason = "is not valid json: " + err.Error()
		}
		return NetworkSelection{}, &Error{Annotation: annotation, Entry: entry, Reason: reason}
	}
	d.fields = objectFields(raw, selectionFields)
	sel := NetworkSelection{
		Name:      d.string("name"),
		Namespace: d.string("namespace"),
		Interface: d.string("interface"),
		MAC:       d.string("mac"),
	}
	ifField := "interface"
	if sel.Interface == "" {
		// Multus still reads the interfaceRequest of releases before 3.2
		// when interface is not given.
		sel.Interface, ifField = d.string("interfaceRequest"), "interfaceRequest"
	}
	d.checkIdentity(&sel, podNamespace, ifField)
	sel.IPs = d.ips()
	d.checkMAC(sel.MAC)
	sel.DefaultRoute = d.defaultRoute()
	sel.CNIArgs = d.cniArgs()
	sel.PortMappings = d.portMappings()
	sel.Bandwidth = d.bandwidth()
	if d.err != nil {
		if d.err.Field != "name" && d.err.Field != "namespace" && networkNameProblem(sel.Name) == "" {
			d.err.Network = sel.Name
		}
		return NetworkSelection{}, d.err
	}
	return sel, nil
}

func (d *entryDecoder) checkIdentity(sel *NetworkSelection, podNamespace, ifField string) {
	if d.err != nil {
		return
	}
	if d.raw("name") == nil {
		d.fail("name", "", "is required")
		return
	}
	if reason := networkNameProblem(sel.Name); reason != "" {
		d.fail("name", sel.Name, reason)
		return
	}
	if sel.Namespace == "" {
		if reason := namespaceProblem(podNamespace); reason != "" {
			d.fail("namespace", podNamespace, "(the pod namespace) "+reason)
			return
		}
		sel.Namespace = podNamespace
	} else if reason := namespaceProblem(sel.Namespace); reason != "" {
		d.fail("namespace", sel.Namespace, reason)
		return
	}
	if sel.Interface != "" {
		if reason := interfaceNameProblem(sel.Interface); reason != "" {
			d.fail(ifField, sel.Interface, reason)
		}
	}
}

func (d *entryDecoder) ips() []string {
	elems := d.list("ips", d.raw("ips"))
	if len(elems) == 0 {
		return nil
	}
	ips := make([]string, 0, len(elems))
	for i, r := range elems {
		field := fmt.Sprintf("ips[%d]", i)
		if isNull(r) {
			d.fail(field, "", "must be a string, not null")
		}
		s := d.stringOf(field, r)
		if d.err != nil {
			return nil
		}
		if reason := ipProblem(s); reason != "" {
			d.fail(field, s, reason)
			return nil
		}
		ips = append(ips, s)
	}
	return ips
}

func (d *entryDecoder) checkMAC(mac string) {
	if d.err != nil || mac == "" {
		return
	}
	if _, err := net.ParseMAC(mac); err != nil {
		d.fail("mac", mac, "is not a valid mac address")
	}
}

func (d *entryDecoder) defaultRoute() []net.IP {
	elems := d.list("default-route", d.raw("default-route"))
	if len(elems) == 0 {
		return nil
	}
	gws := make([]net.IP, 0, len(elems))
	for i, r := range elems {
		field := fmt.Sprintf("default-route[%d]", i)
		if isNull(r) {
			d.fail(field, "", "must be a string, not null")
		}
		s := d.stringOf(field, r)
		if d.err != nil {
			return nil
		}
		ip := net.ParseIP(s)
		if ip == nil {
			d.fail(field, s, "is not a valid ip address")
			return nil
		}
		gws = append(gws, ip)
	}
	return gws
}

func (d *entryDecoder) cniArgs() map[string]interface{} {
	r := d.raw("cni-args")
	if d.object("cni-args", r, nil) == nil || d.err != nil {
		return nil
	}
	var args map[string]interface{}
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil {
		d.fail("cni-args", "", "must be an object: "+err.Error())
		return nil
	}
	return args
}

func (d *entryDecoder) portMappings() []PortMapping {
	elems := d.list("portMappings", d.raw("portMappings"))
	if len(elems) == 0 {
		return nil
	}
	pms := make([]PortMapping, 0, len(elems))
	for i, r := range elems {
		prefix := fmt.Sprintf("portMappings[%d]", i)
		if isNull(r) {
			d.fail(prefix, "", "must be an object, not null")
		}
		m := d.object(prefix, r, portMappingFields)
		if d.err != nil {
			return nil
		}
		pm := PortMapping{
			HostPort:      int(d.integer(prefix+".hostPort", m["hostPort"], 0, 65535)),
			ContainerPort: int(d.integer(prefix+".containerPort", m["containerPort"], 1, 65535)),
			Protocol:      strings.ToLower(d.stringOf(prefix+".protocol", nonNull(m["protocol"]))),
			HostIP:        d.stringOf(prefix+".hostIP", nonNull(m["hostIP"])),
		}
		if d.err != nil {
			return nil
		}
		if nonNull(m["containerPort"]) == nil {
			d.fail(prefix+".containerPort", "", "is required")
			return nil
		}
		switch pm.Protocol {
		case "", "tcp", "udp", "sctp":
		default:
			d.fail(prefix+".protocol", pm.Protocol, "is not one of tcp, udp, sctp")
			return nil
		}
		if pm.HostIP != "" && net.ParseIP(pm.HostIP) == nil {
			d.fail(prefix+".hostIP", pm.HostIP, "is not a valid ip address")
			return nil
		}
		pms = append(pms, pm)
	}
	return pms
}

func (d *entryDecoder) bandwidth() *Bandwidth {
	m := d.object("bandwidth", d.raw("bandwidth"), bandwidthFields)
	if m == nil || d.err != nil {
		return nil
	}
	const maxInt64 = 1<<63 - 1
	bw := &Bandwidth{
		IngressRate:  d.integer("bandwidth.ingressRate", m["ingressRate"], 0, maxInt64),
		IngressBurst: d.integer("bandwidth.ingressBurst", m["ingressBurst"], 0, maxInt64),
		EgressRate:   d.integer("bandwidth.egressRate", m["egressRate"], 0, maxInt64),
		EgressBurst:  d.integer("bandwidth.egressBurst", m["egressBurst"], 0, maxInt64),
	}
	if d.err != nil {
		return nil
	}
	return bw
}

func isNull(r json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(r), []byte("null"))
}

func nonNull(r json.RawMessage) json.RawMessage {
	if r == nil || isNull(r) {
		return nil
	}
	return r
}

// kind names the JSON type of r for error messages.
func kind(r json.RawMessage) string {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "nothing"
	}
	switch r[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '[':
		return "a list"
	case '{':
		return "an object"
	}
	return "a number"
}
