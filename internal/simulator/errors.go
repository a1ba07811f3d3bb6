package simulator

import (
	"encoding/json"
	"net/http"
)

// apiError is the Error schema of the contract. Param and Code are
// nullable but always present, as the contract requires.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

type errorResponse struct {
	Error apiError `json:"error"`
}

func ptr(s string) *string { return &s }

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled; failing here is a programming error.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError answers in the ErrorResponse shape. param and code may be nil.
func writeError(w http.ResponseWriter, status int, typ, message string, param, code *string) {
	writeJSON(w, status, errorResponse{Error: apiError{Message: message, Type: typ, Param: param, Code: code}})
}

// invalidRequest is the 400 answer to a request the organization refuses.
func invalidRequest(w http.ResponseWriter, param, message string) {
	var p *string
	if param != "" {
		p = ptr(param)
	}
	writeError(w, http.StatusBadRequest, "invalid_request_error", message, p, nil)
}
