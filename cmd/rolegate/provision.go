package main

import (
	"context"
)

// provisioner is the worker as serve uses it.
type provisioner interface {
	Wake(requestID int64)
	Run(ctx context.Context)
}
