// Package static holds the browser assets (CSS, the pinned htmx, the favicon) embedded in
// the binary and served from the portal's own origin: rolegate works on an
// air-gapped network. Each file is served under a fingerprinted name so it
// can be cached for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

//go:embed *.css *.js *.svg
var files embed.FS

// HTMX names the pinned htmx: dist/htmx.min.js of the npm package
// htmx.org@2.0.11, byte for byte (embed_test.go checks its SHA-256). Pages
// and tests refer to it by this name only, so an upgrade changes it here.
const HTMX = "htmx-2.0.11.min.js"

// Script names rolegate's own script (local times, the permission search,
// the address of a refused post): every page is complete without it.
const Script = "rolegate.js"

// Favicon names the portal's icon.
const Favicon = "favicon.svg"

// Asset is one embedded file under its fingerprinted name.
type Asset struct {
	Name        string // e.g. "rolegate.css"
	URLPath     string // e.g. "/static/rolegate.3f2a9c1d.css"
	ContentType string
	Body        []byte
}

// Assets are the embedded files by name and by fingerprinted URL path.
type Assets struct {
	byName map[string]*Asset
	byPath map[string]*Asset
}

// Load fingerprints every embedded file.
func Load() (*Assets, error) {
	a := &Assets{byName: map[string]*Asset{}, byPath: map[string]*Asset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(p)
		asset := &Asset{
			Name:        p,
			URLPath:     "/static/" + strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext,
			ContentType: contentType(ext),
			Body:        body,
		}
		a.byName[p], a.byPath[asset.URLPath] = asset, asset
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return a, nil
}

// URL returns the fingerprinted path of the named asset.
func (a *Assets) URL(name string) string {
	if asset, ok := a.byName[name]; ok {
		return asset.URLPath
	}
	return "/static/missing/" + name
}

// ByPath returns the asset served at a fingerprinted URL path.
func (a *Assets) ByPath(p string) (*Asset, bool) {
	asset, ok := a.byPath[p]
	return asset, ok
}

func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}
