package node

import "testing"

func TestIndexLimits(t *testing.T) {
	x := newIndex()
	if ok, _ := x.reserve("1.1.1.1", 2, 1); !ok {
		t.Fatal("first reserve refused")
	}
	if ok, perIP := x.reserve("1.1.1.1", 2, 1); ok || !perIP {
		t.Fatal("per-IP limit not enforced")
	}
	if ok, _ := x.reserve("2.2.2.2", 2, 1); !ok {
		t.Fatal("second IP refused")
	}
	if ok, perIP := x.reserve("3.3.3.3", 2, 1); ok || perIP {
		t.Fatal("node limit not enforced")
	}
	x.release("1.1.1.1")
	if ok, _ := x.reserve("3.3.3.3", 2, -1); !ok {
		t.Fatal("released slot not reusable")
	}
}
