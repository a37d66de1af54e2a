package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/regsim"
)

// startCluster serves a simulated two-instance Registration Server on
// loopback.
func startCluster() *regsim.Cluster {
	cl, err := regsim.Start(regsim.Config{Instances: 2, Users: 2, PollInterval: time.Second}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		log.Fatal(err)
	}
	return cl
}

// Example_quickStart is the quick start of README.md: each of two users
// runs the application's start (a Client with its status light, logged
// in, its device registered, polling), then one invites the other. An
// application passes its published URLs and a durable outbox.
func Example_quickStart() {
	cl := startCluster() // a simulated Registration Server on loopback
	defer cl.Close()
	ctx := context.Background()

	clients := map[string]*client.Client{}
	inboxes := map[string]chan client.Message{}
	for _, user := range []string{"user0", "user1"} {
		c, err := client.New(client.Config{
			URLs:     cl.URLs(),
			Username: user,
			Password: regsim.DefaultPassword,
			DeviceID: "", // the id RegisterDevice returned on an earlier start
			// The simulated server asks for 1 s; keep the default (30 s)
			// in an application.
			PollInterval: 100 * time.Millisecond,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()

		// The status light: green while the server answers, red when no
		// endpoint does.
		light := make(chan client.State, 16)
		last := client.State(-1)
		c.Subscribe(func(s client.StateInfo) {
			if s.Level != last { // changes of tier come too
				last = s.Level
				light <- s.Level
			}
		})

		if _, err := c.Login(ctx); err != nil { // checks the credentials now
			log.Fatal(err)
		}
		if c.DeviceID() == "" { // the first start: register, then keep the id
			if _, err := c.RegisterDevice(ctx, user+"'s laptop", "public-key"); err != nil {
				log.Fatal(err)
			}
		}
		inbox := make(chan client.Message, 16)
		err = c.StartPolling(ctx, func(_ context.Context, m client.Message) { inbox <- m })
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(user, "light:", <-light, "then", <-light)
		clients[user], inboxes[user] = c, inbox
	}

	receipt, err := clients["user0"].SendInvitation(ctx, client.Invitation{SpaceID: "42", Recipient: "user1", Payload: []byte("space key")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("invitation queued:", receipt.Queued) // true while the server is unreachable
	m := <-inboxes["user1"]
	fmt.Println("user1 received an", m.Type, "from", m.From, "for space", m.SpaceID)
	// Output:
	// user0 light: unknown then green
	// user1 light: unknown then green
	// invitation queued: false
	// user1 received an invitation from user0 for space 42
}

func ExampleNew() {
	cl := startCluster()
	defer cl.Close()

	c, err := client.New(client.Config{
		URLs:     cl.URLs(),
		Username: "user0",
		Password: regsim.DefaultPassword,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	if _, err := c.Login(ctx); err != nil {
		log.Fatal(err)
	}
	s := c.State()
	fmt.Println(s.Level, s.Tier, s.Healthy, "of", s.Total)
	// Output: green primary 2 of 2
}

func ExampleClient_StartPolling() {
	cl := startCluster()
	defer cl.Close()
	ctx := context.Background()

	sender, err := client.New(client.Config{URLs: cl.URLs(), Username: "user0", Password: regsim.DefaultPassword})
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.SendInvitation(ctx, client.Invitation{SpaceID: "7", Recipient: "user1", Payload: []byte("key")}); err != nil {
		log.Fatal(err)
	}

	c, err := client.New(client.Config{
		URLs:         cl.URLs(),
		Username:     "user1",
		Password:     regsim.DefaultPassword,
		PollInterval: 100 * time.Millisecond, // the server's <pollinterval> is a floor
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.RegisterDevice(ctx, "laptop", "public-key"); err != nil {
		log.Fatal(err)
	}
	got := make(chan client.Message, 1)
	pollCtx, stop := context.WithCancel(ctx)
	defer stop()
	err = c.StartPolling(pollCtx, func(_ context.Context, m client.Message) { got <- m })
	if err != nil {
		log.Fatal(err)
	}
	m := <-got
	fmt.Println(m.Type, "from", m.From, "for space", m.SpaceID)
	// Output: invitation from user0 for space 7
}

func ExampleClient_Subscribe() {
	cl := startCluster()
	defer cl.Close()
	ctx := context.Background()

	c, err := client.New(client.Config{URLs: cl.URLs(), Username: "user0", Password: regsim.DefaultPassword})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Changes of level and of serving tier arrive in order; keep the levels.
	levels := make(chan client.State, 16)
	last := client.State(-1)
	unsubscribe := c.Subscribe(func(s client.StateInfo) {
		if s.Level != last {
			last = s.Level
			levels <- s.Level
		}
	})
	defer unsubscribe()
	fmt.Println(<-levels) // the current state comes first

	if _, err := c.Login(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-levels)

	for i := range cl.Len() {
		cl.Instance(i).SetFault(regsim.Fault{Down: true})
	}
	_, err = c.GetSettings(ctx) // fails on every endpoint
	fmt.Println(err != nil, <-levels)
	// Output:
	// unknown
	// green
	// true red
}
