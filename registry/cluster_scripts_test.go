package registry

import (
	"regexp"
	"testing"
)

// TestClusterScriptsUseOnlyKEYS: every redis.call of a cluster-mode script
// names its key as KEYS[n], so no script builds a key name (which Redis
// Cluster could not route, nor keep in one slot).
func TestClusterScriptsUseOnlyKEYS(t *testing.T) {
	srcs := map[string]string{
		"nodeAdd": cNodeAddSrc, "nodeDone": cNodeDoneSrc, "connRead": cConnReadSrc,
		"connWrite": cConnWriteSrc, "connDelete": cConnDeleteSrc, "connPending": cConnPendingSrc,
		"connUnpend": cConnUnpendSrc, "connAuth": cConnAuthSrc, "connJoin": cConnJoinSrc,
		"setState": cSetStateSrc, "userAdd": cUserAddSrc, "userDrop": cUserDropSrc,
		"roomAdd": cRoomAddSrc, "roomDrop": cRoomDropSrc, "peak": cPeakSrc,
	}
	if len(srcs) != len(clusterScripts) {
		t.Fatalf("%d sources checked, %d cluster scripts", len(srcs), len(clusterScripts))
	}
	call := regexp.MustCompile(`redis\.call\('(\w+)',\s*([^,)]+)`)
	for name, src := range srcs {
		calls := call.FindAllStringSubmatch(src, -1)
		if len(calls) == 0 {
			t.Errorf("%s: no redis.call found", name)
		}
		for _, c := range calls {
			if !regexp.MustCompile(`^KEYS\[\d\]$`).MatchString(c[2]) {
				t.Errorf("%s: %s on %q, not a KEYS entry", name, c[1], c[2])
			}
		}
	}
}
