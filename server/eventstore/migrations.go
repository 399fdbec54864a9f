package eventstore

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one schema file of a SQL store: migrations/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string // file name
	SQL     string
}

// Migrations returns the migrations/*.sql files of fsys (a store's embedded
// schema) in version order. They are numbered from 0001 without gaps; a
// released file is never edited: a change is a new file.
func Migrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range names { // fs.Glob returns sorted names
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || len(prefix) != 4 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		if v != len(out)+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", base, v, len(out)+1)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, SQL: string(text)})
	}
	return out, nil
}
