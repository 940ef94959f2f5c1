package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/gitenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// maxRepoFile bounds a file read from a repository: a SOPS file is small,
// and a huge blob that a glob happens to match is not read into memory.
const maxRepoFile = 10 << 20

// repo inventories the SOPS files of r at HEAD that the globs match
// (repository-relative, path.Match). One listing gives each file's blob id
// and size; entries come NUL-separated from git and blobs are read by id,
// so no file name, however hostile, is parsed as anything but a name.
func (s *Store) repo(ctx context.Context, r Repo, emit func(stores.Secret)) error {
	out, err := git(ctx, r.Dir, "ls-tree", "-r", "-l", "-z", "HEAD")
	if err != nil {
		return fmt.Errorf("sops git:%s: list the files at HEAD: %v", r.Name, gitErr(err))
	}
	var errs []error
	for _, entry := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
		// "<mode> <type> <object> <size>\t<path>"
		meta, f, ok := strings.Cut(string(entry), "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 4 || fields[1] != "blob" || !rules.MatchAny(r.Paths, f) {
			continue
		}
		rel := "git:" + r.Name + "/" + f
		if n, _ := strconv.ParseInt(fields[3], 10, 64); n > maxRepoFile {
			errs = append(errs, fmt.Errorf("sops %s: %d bytes, more than a SOPS file holds: not read", rel, n))
			continue
		}
		data, err := git(ctx, r.Dir, "cat-file", "blob", fields[2])
		if err != nil {
			errs = append(errs, fmt.Errorf("sops %s: %v", rel, gitErr(err)))
			continue
		}
		if err := s.parse(rel, data, emit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// git runs git in dir, in the environment that reads dir as it is stored
// (not the repository a caller's GIT_DIR names, nor through replace refs).
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = gitenv.Env()
	return cmd.Output()
}

// gitErr keeps git's own message (it names the repository and the object,
// never a file's content).
func gitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%s", bytes.TrimSpace(ee.Stderr))
	}
	return err
}
