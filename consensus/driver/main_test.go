package driver

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts has stopped when the tests end: Run
// starts none and leaves no timer callback behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
