// Command vigil keeps a company's secrets honest: it inventories them, finds
// them where they leaked, and remembers every result between runs.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := newRoot().Execute()
	stopProfile()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, binaryName+":", ee.err)
		}
		os.Exit(ee.code)
	}
	// Anything cobra itself rejects (unknown flag, bad arguments) is usage.
	fmt.Fprintln(os.Stderr, binaryName+":", err)
	os.Exit(exitUsage)
}
