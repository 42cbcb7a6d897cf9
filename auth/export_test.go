package auth

// UnknownUserHash lets the external tests check the hash unknown usernames
// are compared against.
func (s *Service) UnknownUserHash() string { return s.dummy }
