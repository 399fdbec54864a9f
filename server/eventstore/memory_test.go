package eventstore_test

import (
	"testing"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/eventstoretest"
)

func TestMemory(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return eventstore.NewMemory()
	})
}
