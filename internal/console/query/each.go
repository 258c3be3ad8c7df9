package query

// Each calls fn with every row of sel that v sees, in the selection's order, and returns the
// selection's groups (when grouped). It stops at fn's first error. Like the exports it makes
// rows as it goes: the kubectl plugin (issue 20) prints them from here.
func (e *Engine) Each(v Visibility, sel Selection, fn func(Row) error) ([]Group, error) {
	s, err := e.selectAll(v, sel)
	if err != nil {
		return nil, err
	}
	defer s.release()
	for _, r := range s.all() {
		if err := fn(s.row(r)); err != nil {
			return s.groups, err
		}
	}
	return s.groups, nil
}

// CSVRecord fills record (len(CSVColumns)) with row's values as WriteCSV writes them.
func CSVRecord(record []string, row Row) []string { return csvRecord(record, row) }
