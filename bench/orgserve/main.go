// Command orgserve serves a generated GitHub organisation for bench/org.sh:
// the bare repositories under ROOT/ORG over the real git smart-HTTP server,
// and the GitHub replay server listing them (GitHub's example repository
// object with each one's id, name and clone URL). It writes the API's URL and
// the git server's to -url-file and serves until it is stopped.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/vigilsec/vigil/internal/testenv"
)

func main() {
	root := flag.String("root", "", "directory holding ORG/*.git")
	org := flag.String("org", "acme", "organisation")
	n := flag.Int("n", 0, "list only the first N repositories (0: all)")
	token := flag.String("token-env", "BENCH_GH_TOKEN", "variable holding the token the git server accepts")
	urlFile := flag.String("url-file", "", "where to write the API's URL")
	flag.Parse()
	if err := serve(*root, *org, *n, os.Getenv(*token), *urlFile); err != nil {
		fmt.Fprintln(os.Stderr, "orgserve:", err)
		os.Exit(1)
	}
}

func serve(root, org string, n int, token, urlFile string) error {
	// git http-backend runs in another directory: the root must be absolute.
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	dirs, err := filepath.Glob(filepath.Join(root, org, "*.git"))
	if err != nil || len(dirs) == 0 {
		return fmt.Errorf("no repositories under %s/%s", root, org)
	}
	sort.Strings(dirs)
	if n > 0 && n < len(dirs) {
		dirs = dirs[:n]
	}
	ex, err := testenv.LoadExamples()
	if err != nil {
		return err
	}
	git, stopGit := testenv.ServeGit(root, func(u, p string) bool { return u == "x-access-token" && p == token })
	defer stopGit()
	var base []map[string]any
	if err := json.Unmarshal(ex["GET /orgs/{org}/repos"], &base); err != nil || len(base) == 0 {
		return fmt.Errorf("official repository example: %v", err)
	}
	var repos []map[string]any
	for i, d := range dirs {
		b, _ := json.Marshal(base[0])
		var r map[string]any
		_ = json.Unmarshal(b, &r)
		name := strings.TrimSuffix(filepath.Base(d), ".git")
		r["id"], r["name"], r["full_name"] = 100000+i, name, org+"/"+name
		r["clone_url"] = git.URL + org + "/" + name + ".git"
		r["fork"], r["archived"], r["size"] = strings.HasPrefix(name, "fork-"), false, 100
		repos = append(repos, r)
	}
	api, stopAPI := testenv.ServeGitHubReplay(ex)
	defer stopAPI()
	api.Paged("/orgs/{org}/repos")
	api.Replace("/orgs/{org}/repos", repos)
	api.Paged("/orgs/{org}/secret-scanning/alerts")
	api.Replace("/orgs/{org}/secret-scanning/alerts", []any{})
	// The API's URL, then the git server's.
	if err := os.WriteFile(urlFile, []byte(api.URL+"\n"+git.URL+"\n"), 0o644); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return nil
}
