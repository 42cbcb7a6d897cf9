package presence

// UnknownExtensionHash lets the external tests check the dummy PIN hash.
func (s *Service) UnknownExtensionHash() []byte { return s.unknownExtensionHash() }
