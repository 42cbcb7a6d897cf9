package ami

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"omnicc/calls"
)

// controlModules are the Asterisk modules each voice control needs beyond
// the core and the manager. A stock /etc/asterisk may not load them, and
// then the control half-works: Asterisk accepts the Redirect into a
// ConfBridge room and loses the legs, so the check is made before, not
// learnt from a live call.
var controlModules = map[string][]string{
	calls.ControlConference: {"app_confbridge", "bridge_softmix"},
	calls.ControlRecording:  {"app_mixmonitor"},
	calls.ControlSpy:        {"app_chanspy"},
	calls.ControlHold:       {"res_musiconhold"},
}

// CheckedModules lists every module some control needs, in a fixed order.
func CheckedModules() []string {
	var out []string
	for _, mods := range controlModules {
		out = append(out, mods...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckModules asks box with ModuleCheck whether each module a control
// needs is loaded, keeps the answer for Ready and logs which controls are
// off and why. Register it with Pool.OnConnect: it runs at start and after
// every reconnect (Asterisk may have restarted with another modules.conf).
// A connection failure is returned, so the client reconnects and checks
// again.
func (v *Voice) CheckModules(ctx context.Context, c *Client) error {
	missing := map[string]bool{}
	for _, mod := range CheckedModules() {
		_, err := c.Action(ctx, NewAction("ModuleCheck", "Module", mod))
		var ae *ActionError
		switch {
		case err == nil:
		case errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "not loaded"):
			missing[mod] = true
		case errors.As(err, &ae):
			// ModuleCheck itself refused (a manager user without
			// read=system): unknown is not missing, so nothing is turned off.
			v.log.Warn("AMI ModuleCheck refused; voice controls are not checked for missing modules", "box", c.Box(),
				"module", mod, "asterisk_message", ae.Message, "hint", "give the manager.conf user read=system")
			return nil
		default:
			return fmt.Errorf("ModuleCheck %s: %w", mod, err)
		}
	}
	v.modMu.Lock()
	v.missing[c.Box()] = missing
	v.modMu.Unlock()
	var off []string
	for _, control := range slices.Sorted(maps.Keys(controlModules)) {
		for _, mod := range controlModules[control] {
			if missing[mod] {
				off = append(off, control+" ("+mod+" not loaded)")
				break
			}
		}
	}
	// Not a control, but the first thing a webrtc agent meets: their
	// endpoints list opus first, and an Asterisk with no opus translator
	// (none is built from source; codec_opus is a separate download) drops
	// a queue call from a G.711 trunk when the browser answers with opus
	// ("Had to drop call because I couldn't make … compatible", seen on
	// 22.10.1).
	if _, err := c.Action(ctx, NewAction("ModuleCheck", "Module", "codec_opus")); err != nil {
		var ae *ActionError
		if !errors.As(err, &ae) {
			return fmt.Errorf("ModuleCheck codec_opus: %w", err)
		}
		v.log.Warn("this Asterisk has no opus translator (codec_opus not loaded): a webrtc agent whose allowed_codecs include opus cannot take calls from G.711 trunks",
			"box", c.Box(), "hint", "install codec_opus (menuselect, Codec Translators), or remove opus from those agents' allowed_codecs")
	}
	if len(off) > 0 {
		v.log.Warn("voice controls off on this Asterisk: modules missing", "box", c.Box(), "off", strings.Join(off, ", "),
			"hint", "load them (modules.conf require = <module>.so, as omniccd asterisk-conf renders) and restart Asterisk")
	} else {
		v.log.Info("every voice control's Asterisk module is loaded", "box", c.Box(), "modules", strings.Join(CheckedModules(), ","))
	}
	return nil
}

// Ready answers calls.ErrModuleMissing, naming the module, when box (for
// "": every connected box checked so far) lacks a module control needs.
// A box not checked yet is taken as ready: the action then fails on its own.
func (v *Voice) Ready(box, control string) error {
	mods := controlModules[control]
	if len(mods) == 0 {
		return nil
	}
	v.modMu.Lock()
	defer v.modMu.Unlock()
	var boxes []string
	if box != "" {
		boxes = []string{box}
	} else {
		for _, c := range v.pool.Clients() {
			if c.Connected() {
				boxes = append(boxes, c.Box())
			}
		}
	}
	for _, mod := range mods {
		lacking := 0
		for _, b := range boxes {
			if v.missing[b][mod] {
				lacking++
			}
		}
		if len(boxes) > 0 && lacking == len(boxes) {
			return &ModuleError{Control: control, Module: mod}
		}
	}
	return nil
}

// ModuleError is a control refused because its Asterisk module is not
// loaded; errors.Is matches calls.ErrModuleMissing.
type ModuleError struct {
	Control, Module string
}

func (e *ModuleError) Error() string {
	return fmt.Sprintf("the %s control needs the Asterisk module %s, which is not loaded; load it (modules.conf: require = %s.so, as omniccd asterisk-conf renders) and restart Asterisk",
		e.Control, e.Module, e.Module)
}

func (e *ModuleError) Is(target error) bool { return target == calls.ErrModuleMissing }
