package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	frame := []byte(`{"type":"message","room":"lobby","data":{"x":[1,2,"é"]}}`)
	tests := []struct {
		name string
		e    Envelope
	}{
		{"broadcast all", Envelope{Kind: KindAll, Op: OpDeliver, Payload: frame}},
		{"all with exclude", Envelope{Kind: KindAll, Op: OpDeliver, Exclude: "0b7d6f0e-3c1a-4f5e-9a57-6f1f2a9c1d11", Payload: frame}},
		{"room", Envelope{Kind: KindRoom, Target: "lobby", Op: OpDeliver, Payload: frame}},
		{"user", Envelope{Kind: KindUser, Target: "alice@example.com", Op: OpDeliver, Payload: frame}},
		{"node conn", Envelope{Kind: KindNode, Target: "node-a", Op: OpDeliver, ConnID: "c1", Payload: frame}},
		{"disconnect", Envelope{Kind: KindNode, Target: "node-a", Op: OpDisconnect, ConnID: "c1", Code: 4000, Reason: "inactive"}},
		{"max code and fields", Envelope{Kind: KindNode, Target: "n", Op: OpDisconnect, ConnID: strings.Repeat("c", MaxFieldLen),
			Exclude: strings.Repeat("x", MaxFieldLen), Reason: strings.Repeat("r", MaxFieldLen), Code: MaxCode}},
		{"empty payload", Envelope{Kind: KindRoom, Target: "r", Op: OpDeliver}},
		{"binary payload", Envelope{Kind: KindRoom, Target: "r", Op: OpDeliver, Payload: []byte{0, 1, 2, 0xff, 0x80}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := Encode(tt.e)
			if got := Append([]byte("head"), tt.e); string(got) != "head"+string(msg) {
				t.Fatalf("Append = % x, want head and % x", got, msg)
			}
			if !bytes.HasSuffix(msg, tt.e.Payload) {
				t.Fatalf("payload is not carried verbatim at the end: % x", msg)
			}
			got, err := Decode(tt.e.Kind, tt.e.Target, msg)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.e)
			}
			got, err = DecodeString(tt.e.Kind, tt.e.Target, string(msg))
			if err != nil || !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("DecodeString:\n got %+v, %v\nwant %+v", got, err, tt.e)
			}
		})
	}
}

func TestEncodeIsCompact(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"type":"message"}`)
	msg := Encode(Envelope{Kind: KindRoom, Target: "lobby", Op: OpDeliver, Payload: payload})
	// version, op, three zero lengths and a zero code.
	if want := 6 + len(payload); len(msg) != want {
		t.Fatalf("len = %d, want %d", len(msg), want)
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	valid := Encode(Envelope{Op: OpDisconnect, ConnID: "c1", Code: 1000, Reason: "bye"})
	over := binary.AppendUvarint([]byte{encodingVersion, byte(OpDeliver)}, MaxFieldLen+1)
	over = append(over, bytes.Repeat([]byte("a"), MaxFieldLen+1)...)
	hugeLen := binary.AppendUvarint([]byte{encodingVersion, byte(OpDeliver)}, 1<<62)
	bigCode := binary.AppendUvarint([]byte{encodingVersion, byte(OpDeliver), 0, 0}, MaxCode+1)
	bigCode = append(bigCode, 0)
	tests := []struct {
		name   string
		kind   Kind
		target string
		msg    []byte
	}{
		{"nil", KindAll, "", nil},
		{"one byte", KindAll, "", []byte{encodingVersion}},
		{"version 0", KindAll, "", []byte{0, byte(OpDeliver), 0, 0, 0, 0}},
		{"version 2", KindAll, "", []byte{2, byte(OpDeliver), 0, 0, 0, 0}},
		{"op 0", KindAll, "", []byte{encodingVersion, 0, 0, 0, 0, 0}},
		{"op 9", KindAll, "", []byte{encodingVersion, 9, 0, 0, 0, 0}},
		{"no fields", KindAll, "", []byte{encodingVersion, byte(OpDeliver)}},
		{"truncated conn id", KindAll, "", []byte{encodingVersion, byte(OpDeliver), 5, 'a', 'b'}},
		{"truncated after exclude", KindAll, "", []byte{encodingVersion, byte(OpDeliver), 0, 0}},
		{"unterminated varint", KindAll, "", []byte{encodingVersion, byte(OpDeliver), 0x80, 0x80}},
		{"overlong varint", KindAll, "", []byte{encodingVersion, byte(OpDeliver), 0x80, 0x00, 0, 0, 0}},
		{"varint overflow", KindAll, "", append([]byte{encodingVersion, byte(OpDeliver)}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"oversize field", KindAll, "", over},
		{"huge length", KindAll, "", hugeLen},
		{"code out of range", KindAll, "", bigCode},
		{"truncated reason", KindAll, "", valid[:len(valid)-1]},
		{"kind 0", 0, "", valid},
		{"kind 5", 5, "x", valid},
		{"all with target", KindAll, "x", valid},
		{"room without target", KindRoom, "", valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Decode(tt.kind, tt.target, tt.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %+v, %v; want ErrMalformed", e, err)
			}
			if e, err := DecodeString(tt.kind, tt.target, string(tt.msg)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeString = %+v, %v; want ErrMalformed", e, err)
			}
		})
	}
}

func TestEncodeNegativeCodeIsRejected(t *testing.T) {
	t.Parallel()
	msg := Encode(Envelope{Op: OpDisconnect, Code: -1})
	if _, err := Decode(KindAll, "", msg); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode of negative code: err = %v, want ErrMalformed", err)
	}
}

func FuzzDecode(f *testing.F) {
	seeds := []Envelope{
		{Kind: KindRoom, Target: "lobby", Op: OpDeliver, Exclude: "c9", Payload: []byte(`{"type":"message"}`)},
		{Kind: KindNode, Target: "n1", Op: OpDisconnect, ConnID: "c1", Code: 4000, Reason: "inactive"},
		{Kind: KindAll, Op: OpDeliver},
	}
	for _, e := range seeds {
		f.Add(uint8(e.Kind), e.Target, Encode(e))
	}
	f.Add(uint8(KindAll), "", []byte{})
	f.Add(uint8(KindAll), "", []byte{encodingVersion, byte(OpDeliver), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(uint8(KindUser), "u", []byte{encodingVersion, byte(OpDeliver), 200, 'x'})
	f.Add(uint8(KindRoom), "r", []byte{7, 1, 0, 0, 0, 0})
	f.Add(uint8(9), "", []byte{encodingVersion, byte(OpDeliver), 0, 0, 0, 0})

	f.Fuzz(func(t *testing.T, kind uint8, target string, msg []byte) {
		e, err := Decode(Kind(kind), target, msg)
		es, serr := DecodeString(Kind(kind), target, string(msg))
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(e, es) {
			t.Fatalf("DecodeString = %+v, %v; Decode = %+v, %v", es, serr, e, err)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Whatever decodes re-encodes to the same bytes and decodes to the same envelope.
		again := Encode(e)
		if !bytes.Equal(again, msg) {
			t.Fatalf("re-encode differs:\n got % x\nwant % x", again, msg)
		}
		e2, err := Decode(Kind(kind), target, again)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip: %+v, %v; want %+v", e2, err, e)
		}
	})
}

func benchEnvelope() Envelope {
	return Envelope{
		Kind: KindRoom, Target: "lobby", Op: OpDeliver, Exclude: "0b7d6f0e-3c1a-4f5e-9a57-6f1f2a9c1d11",
		Payload: []byte(`{"type":"message","room":"lobby","from":{"user":"alice","conn_id":"0b7d6f0e-3c1a-4f5e-9a57-6f1f2a9c1d11"},"data":{"text":"hello, world"},"msg_id":"01J00000000000000000000000","ts":1767225600000}`),
	}
}

func BenchmarkEncode(b *testing.B) {
	e := benchEnvelope()
	b.ReportAllocs()
	b.SetBytes(int64(len(e.Payload)))
	for b.Loop() {
		_ = Encode(e)
	}
}

// TestDecodeStringAllocates checks that DecodeString copies nothing: the
// payload and the strings alias the message.
func TestDecodeStringAllocates(t *testing.T) {
	e := benchEnvelope()
	msg := string(Encode(e))
	if n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeString(e.Kind, e.Target, msg); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("DecodeString: %v allocations, want 0", n)
	}
}

func BenchmarkDecodeString(b *testing.B) {
	e := benchEnvelope()
	msg := string(Encode(e))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := DecodeString(e.Kind, e.Target, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	e := benchEnvelope()
	msg := Encode(e)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Decode(e.Kind, e.Target, msg); err != nil {
			b.Fatal(err)
		}
	}
}
