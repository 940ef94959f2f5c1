package rules

import "path"

// MatchAny says whether any of globs matches name (path.Match): the
// include, exclude and ignore lists vigil.yaml and the declared rules give
// by name (repositories, roles, vaults, projects, namespaces). The config
// checks each glob's syntax at load, so a bad one is never met here.
func MatchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
