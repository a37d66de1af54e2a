package regsim_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

// ExampleStart shows a test against a started cluster: log in, take an
// instance down, see the failure, bring it back.
func ExampleStart() {
	c, err := regsim.Start(regsim.Config{Instances: 2, Users: 10}, regsim.StartOptions{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	login := func(base string) string {
		body, _ := wire.EncodeRequest(&wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
			{Name: "username", Value: "user3"}, {Name: "password", Value: regsim.DefaultPassword},
		}})
		resp, err := hc.Post(base+wire.APIPath, wire.ContentType, bytes.NewReader(body))
		if err != nil {
			return "unreachable"
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		reply, err := wire.DecodeReply(b)
		if err != nil {
			return err.Error()
		}
		id, _ := reply.Get("userid")
		return "userid " + id
	}

	fmt.Println(login(c.URLs()[0]))
	c.Instance(0).SetFault(regsim.Fault{Down: true})
	fmt.Println(login(c.URLs()[0]))
	fmt.Println(login(c.URLs()[1]))
	c.Instance(0).SetFault(regsim.Fault{})
	fmt.Println(login(c.URLs()[0]))
	fmt.Println(c.Counters().Logins)
	// Output:
	// userid 4
	// unreachable
	// userid 4
	// userid 4
	// 3
}

// ExampleCluster_Transport uses the in-memory transport: no sockets, so it
// also works inside a testing/synctest bubble.
func ExampleCluster_Transport() {
	c, err := regsim.NewCluster(regsim.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	hc := &http.Client{Transport: c.Transport()}

	c.SetStoreFault(true)
	resp, err := hc.Get(c.URLs()[0] + wire.HealthPath)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(c.URLs()[0], resp.StatusCode)
	// Output: http://instance0.regsim.test 503
}
