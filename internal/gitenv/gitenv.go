// Package gitenv is the environment vigil runs git in when it reads a
// repository: the repository it names, as that repository stores it,
// whatever the environment vigil itself was started in.
package gitenv

import (
	"os"
	"strings"
)

// Env is vigil's environment for a git that reads a repository, with extra
// appended:
//   - the variables that pick a repository and its parts (GIT_DIR,
//     GIT_INDEX_FILE, ...: LocalVar) are dropped: vigil run from a git
//     hook, where GIT_DIR is set, read the hook's repository whatever -C
//     said;
//   - replace refs and grafts are not applied: a pushed refs/replace/ ref
//     made `git log` show another commit in a commit's place, and the
//     secrets of the commit replaced went unseen (as they do for the
//     gitleaks CLI). The replacements are still read where they are
//     reachable: their refs are refs like any other.
func Env(extra ...string) []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+2+len(extra))
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); !LocalVar(name) {
			out = append(out, kv)
		}
	}
	// Grafts are off by a graft file that cannot exist (nothing can be
	// under /dev/null): GIT_NO_REPLACE_OBJECTS leaves them on, and an
	// existing empty file (/dev/null itself) has git print its grafts
	// deprecation hint on every command, ahead of any error it reports.
	out = append(out, "GIT_NO_REPLACE_OBJECTS=1", "GIT_GRAFT_FILE=/dev/null/none")
	return append(out, extra...)
}

// LocalVar says whether name is one of the variables `git rev-parse
// --local-env-vars` lists (those a program that moves between repositories
// must clear), or one of the -c settings GIT_CONFIG_COUNT numbers.
func LocalVar(name string) bool {
	switch name {
	case "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
		"GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
		"GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
		"GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR":
		return true
	}
	return strings.HasPrefix(name, "GIT_CONFIG_KEY_") || strings.HasPrefix(name, "GIT_CONFIG_VALUE_")
}
