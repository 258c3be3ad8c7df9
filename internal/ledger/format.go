package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
)

// ConfigMap keys.
const (
	// headerKey (Data, JSON) is the v2 header in the base ConfigMap.
	headerKey = "header.json"
	// shardKey (BinaryData) is a shard: in the base ConfigMap while there is one, in each shard
	// ConfigMap otherwise.
	shardKey = "shard.bin"
)

// formatVersion is the header version this package writes and reads.
const formatVersion = 2

// header is the v2 content of the base ConfigMap (besides shard 0 while there is one shard).
type header struct {
	Version int    `json:"version"`
	Scope   string `json:"scope"`
	// Counts is absent until the owner records counts.
	Counts *Counts `json:"counts,omitempty"`
	// Windows are the owner's open digest windows (see windows.go).
	Windows map[string]int64 `json:"windows,omitempty"`
	// Layout identifies the set of shards the header points at: every shard carries it, and a
	// shard with another one is from an earlier (or an abandoned) layout.
	Layout string `json:"layout"`
	// Shards is the number of shards, a power of two; 1 means the only shard is in the base
	// ConfigMap.
	Shards int `json:"shards"`
	// Claim orders the instances (leaders) that write the ledger: each claims one more than the
	// stored claim it loaded, and one that finds a greater claim stored stops writing (see
	// fence.go). Absent (0) in ledgers written before it.
	Claim uint64 `json:"claim,omitempty"`
}

// counts returns c, zero when absent.
func (c *Counts) counts() Counts {
	if c == nil {
		return Counts{}
	}
	return *c
}

func encodeHeader(h *header) string {
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // strings and numbers only
	}
	return string(b)
}

// decodeHeader parses a header and returns the layout ID and the shard bits it names.
func decodeHeader(s string) (header, uint64, uint8, error) {
	var h header
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return h, 0, 0, err
	}
	if h.Version != formatVersion {
		return h, 0, 0, fmt.Errorf("format version %d, this operator reads %d", h.Version, formatVersion)
	}
	id, err := strconv.ParseUint(h.Layout, 16, 64)
	if err != nil || id == 0 {
		return h, 0, 0, fmt.Errorf("bad layout %q", h.Layout)
	}
	if h.Shards < 1 || h.Shards > 1<<maxShardBits || h.Shards&(h.Shards-1) != 0 {
		return h, 0, 0, fmt.Errorf("bad shard count %d", h.Shards)
	}
	bits := uint8(0)
	for 1<<bits < h.Shards {
		bits++
	}
	return h, id, bits, nil
}

func layoutString(id uint64) string { return fmt.Sprintf("%016x", id) }

// storedClaim returns the claim of a stored header, 0 when there is none or it is unreadable.
func storedClaim(s string) uint64 {
	var h struct {
		Claim uint64 `json:"claim"`
	}
	if json.Unmarshal([]byte(s), &h) != nil {
		return 0
	}
	return h.Claim
}

// shardID reads the layout, bits and index a stored shard says it has, without checking it.
func shardID(raw []byte) (layout uint64, bits uint8, index int, ok bool) {
	if len(raw) < len(shardMagic)+8+1+1 || !bytes.Equal(raw[:len(shardMagic)], shardMagic) {
		return 0, 0, 0, false
	}
	b := raw[len(shardMagic):]
	i, n := binary.Uvarint(b[9:])
	if n <= 0 || i >= 1<<maxShardBits {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint64(b), b[8], int(i), true
}

// Shard binary format (all integers unsigned varints unless said otherwise):
//
//	"PHL2"  layout (8 bytes, little endian)  bits (1 byte)  index  n
//	n key deltas: the shard's mixed keys in increasing order, each minus the previous one (the
//	  first minus the lowest key the shard can hold, index << (64-bits))
//	g  then g pairs for the keys not present: position delta (position minus previous position,
//	  the first plus one) and gone-time delta (zigzag signed varint, from the previous one, the
//	  first from 0)
//	CRC-32 (IEEE, 4 bytes little endian) of everything before.
//
// Mixed keys are uniform, so a delta takes about log2(2^64/keys in the ledger) bits: 7 bytes a
// key at 1,000,000 keys. A present key stores no time; keys that leave together share a time
// and so take about 2 more bytes.
var shardMagic = []byte("PHL2")

// entry is a mixed key and its gone time (0 while present).
type entry struct {
	m uint64
	g uint32
}

// shardBase returns the lowest mixed key shard index of 1<<bits can hold.
func shardBase(bits uint8, index int) uint64 {
	if bits == 0 {
		return 0
	}
	return uint64(index) << (64 - bits)
}

// encodeShard encodes the entries of one shard; it sorts es. buf is reused when big enough.
func encodeShard(buf []byte, layout uint64, bits uint8, index int, es []entry) []byte {
	slices.SortFunc(es, func(a, b entry) int {
		switch {
		case a.m < b.m:
			return -1
		case a.m > b.m:
			return 1
		}
		return 0
	})
	b := buf[:0]
	b = append(b, shardMagic...)
	b = binary.LittleEndian.AppendUint64(b, layout)
	b = append(b, bits)
	b = binary.AppendUvarint(b, uint64(index))
	b = binary.AppendUvarint(b, uint64(len(es)))
	prev, gone := shardBase(bits, index), 0
	for _, e := range es {
		b = binary.AppendUvarint(b, e.m-prev)
		prev = e.m
		if e.g != 0 {
			gone++
		}
	}
	b = binary.AppendUvarint(b, uint64(gone))
	prevPos, prevG := -1, int64(0)
	for i, e := range es {
		if e.g != 0 {
			b = binary.AppendUvarint(b, uint64(i-prevPos))
			b = binary.AppendVarint(b, int64(e.g)-prevG)
			prevPos, prevG = i, int64(e.g)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

var errShort = errors.New("truncated")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// decodeShard checks that raw is shard index of the layout and returns its entries, in
// increasing order of mixed key.
func decodeShard(raw []byte, layout uint64, bits uint8, index int) ([]entry, error) {
	if len(raw) < len(shardMagic)+8+1+4 || !bytes.Equal(raw[:len(shardMagic)], shardMagic) {
		return nil, errors.New("not a ledger shard")
	}
	body := raw[:len(raw)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(raw[len(raw)-4:]) {
		return nil, errors.New("checksum mismatch")
	}
	r := reader{b: body[len(shardMagic):]}
	if got := binary.LittleEndian.Uint64(r.b); got != layout {
		return nil, fmt.Errorf("shard of layout %s, the header names %s", layoutString(got), layoutString(layout))
	}
	if got := r.b[8]; got != bits {
		return nil, fmt.Errorf("shard of %d shards, the header names %d", 1<<got, 1<<bits)
	}
	r.b = r.b[9:]
	if got := r.uvarint(); r.err == nil && got != uint64(index) {
		return nil, fmt.Errorf("shard %d stored as shard %d", index, got)
	}
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	// Each key takes at least a byte: a count beyond that is damage, not a reason to allocate.
	if n > uint64(len(r.b)) {
		return nil, errShort
	}
	es := make([]entry, n)
	lo := shardBase(bits, index)
	hi := lo + (^uint64(0) >> bits) // the highest key of the shard
	prev := lo
	for i := range es {
		d := r.uvarint()
		m := prev + d
		if r.err != nil {
			return nil, r.err
		}
		if m < prev || m > hi || (i > 0 && d == 0) {
			return nil, errors.New("keys out of order or out of the shard")
		}
		es[i].m, prev = m, m
	}
	gone := r.uvarint()
	if r.err == nil && gone > n {
		return nil, errors.New("more gone times than keys")
	}
	pos, g := -1, int64(0)
	for range gone {
		d := r.uvarint()
		g += r.varint()
		if r.err != nil {
			return nil, r.err
		}
		if d == 0 || d > n {
			return nil, errors.New("bad gone position")
		}
		pos += int(d)
		if pos >= len(es) || g <= 0 || g > 1<<32-1 {
			return nil, errors.New("bad gone time")
		}
		es[pos].g = uint32(g)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, errors.New("trailing bytes")
	}
	return es, nil
}
