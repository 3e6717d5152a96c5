package registrarapi_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Nothing the tests start outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
