package node

import (
	"time"

	"github.com/google/uuid"
)

func nowTime() time.Time { return time.Now() }

func validConnID(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}
