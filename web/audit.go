package web

// auditRoutes are the auditors' pages; see audit_*.go.
func (s *Server) auditRoutes() []Route { return nil }
