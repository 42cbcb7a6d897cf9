package main

import (
	"errors"
	"fmt"
	"io"

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
	generated := false
	if len(boxes) > 0 {
		p.AMI = asteriskconf.AMI{User: boxes[0].Username, Secret: boxes[0].Secret}
	} else {
		// manager.conf needs a secret; one is made up and shown so the user
		// can put the same in OMNICC_AMI.
		p.AMI = asteriskconf.AMI{User: "omnicc", Secret: directory.RandomSecret(24)}
		generated = true
	}
	if host != "" {
		p.AMI.Permit = host
	}
	if err := asteriskconf.Render(out, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the Asterisk configuration to %s (see %s/README.md for the start order)\n", out, out)
	if generated {
		fmt.Fprintf(stdout, "OMNICC_AMI was empty: manager.conf has user omnicc with a new secret; start omniccd with\n  OMNICC_AMI=omnicc:%s@127.0.0.1:5038\n", p.AMI.Secret)
	}
	return nil
}
