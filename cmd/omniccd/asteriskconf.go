package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"omnicc/ami"
	asteriskconf "omnicc/asterisk-conf"
	"omnicc/config"
	"omnicc/directory"
)

// renderAsteriskConf writes the sample Asterisk configuration filled with
// this omniccd's addresses and credentials.
func renderAsteriskConf(cfg config.Config, out, host string, stdout io.Writer) error {
	if out == "" {
		return errors.New("asterisk-conf: --out DIR is required")
	}
	httpAddr, err := asteriskconf.Reachable(cfg.HTTPAddr, host)
	if err != nil {
		return fmt.Errorf("OMNICC_HTTP_ADDR: %w", err)
	}
	agiAddr, err := asteriskconf.Reachable(cfg.AGIAddr, host)
	if err != nil {
		return fmt.Errorf("OMNICC_AGI_ADDR: %w", err)
	}
	p := asteriskconf.Params{
		OmniccURL: "http://" + httpAddr, AGIAddr: agiAddr,
		RealtimeUser: cfg.RealtimeUser, RealtimePassword: cfg.RealtimePassword,
		SIPWSURL: cfg.SIPWSURL,
	}
	if cfg.DBDSN != "" {
		if p.DB, err = asteriskconf.DBFromDSN(cfg.DBDSN); err != nil {
			return fmt.Errorf("OMNICC_DB_DSN: %w", err)
		}
	}
	boxes, err := ami.ParseBoxes(cfg.AMI)
	if err != nil {
		return err
	}
	// manager.conf holds one account: the first box's. Other boxes in
	// OMNICC_AMI are rendered for separately (each has its own manager.conf).
	user, secret, amiAddr, generated := "omnicc", "", "", false
	if len(boxes) > 0 {
		user, secret, amiAddr = boxes[0].Username, boxes[0].Secret, boxes[0].Addr
	} else {
		// manager.conf needs a secret; one is made up and shown so the user
		// can put the same in OMNICC_AMI.
		secret, generated = directory.RandomSecret(24), true
	}
	if p.AMI, err = asteriskconf.AMIFor(user, secret, amiAddr, hostOnly(host)); err != nil {
		return err
	}
	if err := asteriskconf.Render(out, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the Asterisk configuration to %s (see %s/README.md for the start order)\n", out, out)
	if p.DB.Host == "" {
		// res_config_odbc reads omniccd's tables straight from MySQL/MariaDB;
		// the embedded SQLite file is private to omniccd, so there is no odbc
		// set to render, only curl.
		fmt.Fprintf(stdout, "curl mode only: odbc mode needs omniccd on MySQL/MariaDB (OMNICC_DB_DSN)\n")
	}
	if generated {
		box := "127.0.0.1"
		if p.AMI.Remote() {
			box = "<this Asterisk box's address, as omniccd reaches it>"
		}
		fmt.Fprintf(stdout, "OMNICC_AMI was empty: manager.conf has user omnicc with a new secret; start omniccd with\n  OMNICC_AMI=omnicc:%s@%s:%d\n",
			p.AMI.Secret, box, p.AMI.Port)
	}
	return nil
}

// hostOnly is --host without brackets, as given for an IPv6 address.
func hostOnly(host string) string {
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
