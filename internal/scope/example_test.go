package scope_test

import (
	"context"
	"fmt"

	"github.com/regfleet/regfleet/internal/scope"
)

// An owner's scope ends the contexts of its calls when the owner closes.
func ExampleScope() {
	life := scope.New(context.Background())
	call, cancel := context.WithCancel(life)
	defer cancel()

	life.Cancel() // the owner closes
	<-call.Done()
	fmt.Println(call.Err())
	// Output: context canceled
}
