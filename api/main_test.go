package api

import (
	"testing"

	"go.uber.org/goleak"
)

// The API's handlers start no goroutine that outlives a request.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
