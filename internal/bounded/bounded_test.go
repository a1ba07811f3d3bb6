package bounded

import (
	"fmt"
	"testing"
)

func TestAMapNeverHoldsMoreThanItsBounds(t *testing.T) {
	m := New[string, int](3, 1000)
	for i := range 100 {
		m.Put(fmt.Sprint(i), i, 90)
		if n, b := m.Len(); n > 3 || b > 1000 {
			t.Fatalf("after %d puts: %d entries, %d bytes; bounds are 3 and 1000", i+1, n, b)
		}
	}
	m = New[string, int](100, 1000)
	for i := range 100 {
		m.Put(fmt.Sprint(i), i, 99)
		if _, b := m.Len(); b > 1000 {
			t.Fatalf("after %d puts: %d bytes; the bound is 1000", i+1, b)
		}
	}
	if v, ok := m.Get("99"); !ok || v != 99 {
		t.Fatalf("the value just put is not kept: %v %v", v, ok)
	}
}

func TestAValueOverATenthOfTheBytesIsNotKept(t *testing.T) {
	m := New[string, string](10, 1000)
	m.Put("small", "s", 100)
	m.Put("large", "l", 101)
	if _, ok := m.Get("large"); ok {
		t.Fatal("a value of 101 bytes was kept in a map of 1000")
	}
	if _, ok := m.Get("small"); !ok {
		t.Fatal("a value that does not fit dropped one that did")
	}
}

func TestReplacingAValueCountsItsBytesOnce(t *testing.T) {
	m := New[int, string](10, 1000)
	m.Put(1, "a", 50)
	m.Put(1, "b", 70)
	if n, b := m.Len(); n != 1 || b != 70 {
		t.Fatalf("one key put twice: %d entries, %d bytes; want 1 and 70", n, b)
	}
	if v, _ := m.Get(1); v != "b" {
		t.Fatalf("got %q, want the later value", v)
	}
}

func TestClearDropsEverything(t *testing.T) {
	m := New[string, int](10, 1000)
	m.Put("a", 1, 10)
	m.Clear()
	if n, b := m.Len(); n != 0 || b != 0 {
		t.Fatalf("after Clear: %d entries, %d bytes", n, b)
	}
	if _, ok := Lookup(m, []byte("a")); ok {
		t.Fatal("a cleared value is still found")
	}
	m.Put("b", 2, 10)
	if v, ok := Lookup(m, []byte("b")); !ok || v != 2 {
		t.Fatal("the map is unusable after Clear")
	}
}

func TestLookupByBytesDoesNotAllocate(t *testing.T) {
	m := New[string, int](10, 1000)
	m.Put("a key longer than thirty-two bytes, as timelines' are", 1, 10)
	key := []byte("a key longer than thirty-two bytes, as timelines' are")
	if n := testing.AllocsPerRun(100, func() { Lookup(m, key) }); n != 0 {
		t.Fatalf("Lookup allocated %v times a call", n)
	}
}
