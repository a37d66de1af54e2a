package nagios_test

import (
	"fmt"

	"github.com/regfleet/regfleet/internal/nagios"
)

func Example() {
	w, _ := nagios.ParseRange("500") // alert above 500 (or below 0)
	c, _ := nagios.ParseRange("2000")
	th := nagios.Thresholds{Warning: &w, Critical: &c}
	max := 10000.0
	p := nagios.Perf{Label: "time", Value: 712, UOM: "ms", Warn: &w, Crit: &c, Max: &max}
	fmt.Println(th.Status(712), w.Describe(712, "ms"))
	fmt.Println(p)
	fmt.Println(nagios.Perf{Label: "reg1:443 time", Unknown: true, Warn: &w})
	// Output:
	// WARNING 712 ms > 500 ms
	// time=712ms;500;2000;;10000
	// 'reg1:443 time'=U;500
}

func ExampleParseRange() {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20"} {
		r, _ := nagios.ParseRange(s)
		fmt.Printf("%-7s alerts for 5: %-5v 15: %-5v 25: %v\n", r, r.Alert(5), r.Alert(15), r.Alert(25))
	}
	// Output:
	// 10      alerts for 5: false 15: true  25: true
	// 10:     alerts for 5: true  15: false 25: false
	// ~:10    alerts for 5: false 15: true  25: true
	// 10:20   alerts for 5: true  15: false 25: true
	// @10:20  alerts for 5: false 15: true  25: false
}
