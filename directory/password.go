package directory

import (
	"crypto/rand"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// PasswordSymbols are the symbols the security suite accepts (seeds: agents.txt).
const PasswordSymbols = "~!@#$%^&-_=+[{]}"

// CheckPasswordPolicy applies the security-suite rules: at least 8 characters
// with an upper, a lower, a digit and a symbol from PasswordSymbols. With the
// suite off only emptiness and bcrypt's 72-byte limit are checked.
func CheckPasswordPolicy(field, pw string, suite bool) error {
	if pw == "" {
		return fieldErr(field, "is required")
	}
	if len(pw) > 72 {
		return fieldErr(field, "must be at most 72 bytes")
	}
	if !suite {
		return nil
	}
	var upper, lower, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case strings.ContainsRune(PasswordSymbols, r):
			symbol = true
		}
	}
	var missing []string
	if len([]rune(pw)) < 8 {
		missing = append(missing, "at least 8 characters")
	}
	if !upper {
		missing = append(missing, "an uppercase letter")
	}
	if !lower {
		missing = append(missing, "a lowercase letter")
	}
	if !digit {
		missing = append(missing, "a digit")
	}
	if !symbol {
		missing = append(missing, "a symbol from "+PasswordSymbols)
	}
	if len(missing) > 0 {
		return fieldErr(field, "does not meet the password policy: needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// HashPassword hashes with bcrypt at the given cost (0 = bcrypt's default).
func HashPassword(pw string, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	return string(h), err
}

// PasswordMatches reports whether pw is the password behind hash.
func PasswordMatches(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

const secretAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// RandomSecret returns n characters from an unambiguous alphabet, for SIP
// secrets and generated passwords. Bytes past the last whole multiple of the
// alphabet are rejected so every character is equally likely.
func RandomSecret(n int) string {
	const limit = 256 - 256%len(secretAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, secretAlphabet[int(c)%len(secretAlphabet)])
			}
		}
	}
	return string(out)
}

// GeneratePassword returns a random password that meets the policy.
func GeneratePassword() string {
	return RandomSecret(14) + "-7aK"
}

// RandomPIN is n random digits (a voicemail PIN).
func RandomPIN(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			// 250 is the largest multiple of 10 below 256: no digit is likelier.
			if c < 250 && len(out) < n {
				out = append(out, '0'+c%10)
			}
		}
	}
	return string(out)
}
