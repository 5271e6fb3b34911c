package kube

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzDecodeResponse decodes what the API server, or the node API that
// forwards it, answers to a pod or NAD GET. A 2xx body is decoded exactly
// as encoding/json decodes it, or refused naming the request; any other
// answer is a StatusError, carrying the HTTP code unless the body is a
// failure Status that gives its own, and "try later" (429, 503, 504) is
// never lost to a body that is not a failure Status.
func FuzzDecodeResponse(f *testing.F) {
	pod := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"tenant","uid":"u-1","annotations":{"k8s.v1.cni.cncf.io/networks":"macvlan-conf"}}}`
	nad := `{"kind":"NetworkAttachmentDefinition","apiVersion":"k8s.cni.cncf.io/v1","metadata":{"name":"macvlan-conf","namespace":"tenant"},"spec":{"config":"{\"cniVersion\":\"0.3.0\",\"name\":\"macvlan-conf\",\"type\":\"macvlan\"}"}}`
	notFound := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"web-1\" not found","reason":"NotFound","details":{"name":"web-1","kind":"pods"},"code":404}`
	for _, s := range []struct {
		code int
		body string
	}{
		{200, pod}, {200, nad}, {200, `null`}, {200, `{"metadata":{"annotations":{"a":1}}}`}, {200, `{"spec":{"config":5}}`},
		{404, notFound}, {403, `{"kind":"Status","status":"Failure","reason":"Forbidden","code":403}`},
		{503, `{"kind":"Status","apiVersion":"v1","status":"Success"}`}, {503, `{"kind":"Status"}`},
		{429, `{"kind":"Status","status":"Failure","reason":"TooManyRequests"}`}, {504, `upstream timed out`},
		{500, ``}, {302, `<html>`}, {101, `{}`},
	} {
		f.Add(s.code, []byte(s.body), true)
		f.Add(s.code, []byte(s.body), false)
	}
	f.Fuzz(func(t *testing.T, code int, body []byte, asPod bool) {
		if code < 100 || code > 599 {
			return
		}
		var out, fresh any = &Pod{}, &Pod{}
		gr := podsResource
		if !asPod {
			out, fresh, gr = &nadv1.NetworkAttachmentDefinition{}, &nadv1.NetworkAttachmentDefinition{}, nadResource
		}
		err := decodeResponse(code, body, "GET", "/x/web-1", gr, "web-1", out)
		if code >= 200 && code < 300 {
			want := json.Unmarshal(body, fresh)
			if (err == nil) != (want == nil) {
				t.Fatalf("%d %q: err %v, encoding/json says %v", code, body, err, want)
			}
			if err != nil {
				if errors.As(err, new(apierrors.APIStatus)) || IsUnreachable(err) || !strings.Contains(err.Error(), "GET /x/web-1") {
					t.Fatalf("%d %q: refused with %v (%T), want a decode error naming the request", code, body, err, err)
				}
				return
			}
			if !reflect.DeepEqual(out, fresh) {
				t.Fatalf("%d %q: decoded %+v, encoding/json %+v", code, body, out, fresh)
			}
			return
		}
		var se *apierrors.StatusError
		if !errors.As(err, &se) {
			t.Fatalf("%d %q: err %v (%T), want a StatusError", code, body, err, err)
		}
		var st metav1.Status
		failure := json.Unmarshal(body, &st) == nil && st.Status == metav1.StatusFailure
		if got := se.Status().Code; got == 0 || (!failure || st.Code == 0) && got != int32(code) {
			t.Fatalf("%d %q: Status code %d", code, body, got)
		}
		tryLater := code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
		if tryLater && !failure && !IsUnreachable(err) {
			t.Fatalf("%d %q: %v does not read as try later", code, body, err)
		}
	})
}
