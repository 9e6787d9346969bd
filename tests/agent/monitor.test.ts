/** The differ and the address-assignment rule (art26): snapshots in, the right events out. */
import { describe, it, expect } from 'vitest';
import { diffAdmins, diffAntimalware, diffListening, diffSoftware } from '../../agent/collectors/diff.js';
import { unassignedAddresses } from '../../agent/policy/assigned.js';
import type { NetworkData, SoftwareData, ListeningData, UsersData, AntimalwareData } from '../../shared/inventory.js';

const pkg = (name: string, version: string) => ({ name, version, arch: 'amd64', publisher: null, installedAt: null });

describe('differ', () => {
  it('reports installed, removed and updated software once, and nothing when unchanged', () => {
    const a: SoftwareData = { source: 'dpkg', packages: [pkg('openssl', '3.0.11'), pkg('telnet', '0.17'), pkg('bash', '5.2')] };
    const b: SoftwareData = { source: 'dpkg', packages: [pkg('openssl', '3.0.13'), pkg('bash', '5.2'), pkg('anydesk', '6.3')] };
    const [e] = diffSoftware(a, b);
    expect(e!.type).toBe('host.software_changed');
    expect(e!.data).toMatchObject({
      installed: [{ name: 'anydesk', version: '6.3' }], removed: [{ name: 'telnet', version: '0.17' }],
      updated: [{ name: 'openssl', from: '3.0.11', to: '3.0.13' }],
    });
    expect(diffSoftware(b, b)).toEqual([]);
  });

  it('reports a new listening port with its process', () => {
    const s = (port: number, process: string) => ({ protocol: 'tcp' as const, family: 'ipv4' as const, address: '0.0.0.0', port, pid: 10, process });
    const a: ListeningData = { sockets: [s(22, 'sshd')] };
    const b: ListeningData = { sockets: [s(22, 'sshd'), s(5900, 'x11vnc')] };
    expect(diffListening(a, b)[0]!.data).toEqual({ sockets: [s(5900, 'x11vnc')] });
    expect(diffListening(b, a)).toEqual([]);
  });

  it('reports a new local administrator as high severity', () => {
    const acct = (name: string, id: string, admin: boolean) => ({ name, id, admin, disabled: false, shell: '/bin/bash', home: `/home/${name}` });
    const a: UsersData = { accounts: [acct('root', '0', true), acct('trader', '1000', false)], sessions: [] };
    const b: UsersData = { accounts: [acct('root', '0', true), acct('trader', '1000', true)], sessions: [] };
    const [e] = diffAdmins(a, b);
    expect(e).toMatchObject({ type: 'host.admin_added', severity: 'high', data: { accounts: [{ name: 'trader', id: '1000' }] } });
  });

  it('reports anti-malware switched off or removed', () => {
    const p = (enabled: boolean | null, present = true) => ({ product: 'ClamAV', present, enabled, upToDate: true, signaturesVersion: '27451', signaturesDate: null });
    const on: AntimalwareData = { products: [p(true)] };
    expect(diffAntimalware(on, { products: [p(false)] })[0]).toMatchObject({ type: 'host.antimalware_disabled', severity: 'high' });
    expect(diffAntimalware(on, { products: [p(null, false)] })).toHaveLength(1);
    expect(diffAntimalware(on, on)).toEqual([]);
    expect(diffAntimalware({ products: [p(false)] }, { products: [p(false)] })).toEqual([]);
  });
});

describe('address assignment (art26)', () => {
  const net: NetworkData = {
    interfaces: [
      { name: 'lo', mac: null, up: true, type: 'loopback', driver: null, addresses: [{ family: 'ipv4', address: '127.0.0.1', prefix: 8 }, { family: 'ipv6', address: '::1', prefix: 128 }] },
      { name: 'eth0', mac: '52:54:00:12:34:56', up: true, type: 'ethernet', driver: 'virtio_net', addresses: [
        { family: 'ipv4', address: '10.20.3.4', prefix: 16 }, { family: 'ipv6', address: 'fe80::5054:ff:fe12:3456', prefix: 64 },
      ] },
      { name: 'usb0', mac: '02:00:00:00:00:01', up: true, type: 'usb', driver: 'rndis_host', addresses: [{ family: 'ipv4', address: '192.168.42.17', prefix: 24 }] },
    ],
    gateways: [], dns: [],
  };
  it('flags an address outside the assigned ranges, ignoring loopback and link-local', () => {
    expect(unassignedAddresses(net, ['10.20.0.0/16'])).toEqual([{ interface: 'usb0', address: '192.168.42.17', family: 'ipv4' }]);
  });
  it('is silent when every address is assigned or the policy sets no ranges', () => {
    expect(unassignedAddresses(net, ['10.20.0.0/16', '192.168.42.0/24'])).toEqual([]);
    expect(unassignedAddresses(net, [])).toEqual([]);
  });
  it('handles IPv6 ranges', () => {
    const v6: NetworkData = { ...net, interfaces: [{ ...net.interfaces[1]!, addresses: [{ family: 'ipv6', address: '2001:db8:1::5', prefix: 64 }] }] };
    expect(unassignedAddresses(v6, ['2001:db8:1::/48'])).toEqual([]);
    expect(unassignedAddresses(v6, ['2001:db8:2::/48'])).toHaveLength(1);
  });
});

describe('check selection by policy', async () => {
  const { selectChecks, CATALOGUE } = await import('../../agent/checks/index.js');
  it('selects the profile and leaves out excluded checks', () => {
    const all = selectChecks('linux', 'mlps3');
    expect(all.length).toBe(CATALOGUE.linux.length);
    const less = selectChecks('linux', 'mlps3', ['linux.ssh.root_login', 'linux.pam.minlen']);
    expect(less.length).toBe(all.length - 2);
    expect(less.map((c) => c.id)).not.toContain('linux.ssh.root_login');
    expect(selectChecks('linux', 'no-such-profile')).toEqual([]);
  });
  it('has at least 30 checks per OS family, with unique ids', () => {
    for (const os of ['linux', 'win32', 'darwin'] as const) {
      expect(CATALOGUE[os].length).toBeGreaterThanOrEqual(30);
      expect(new Set(CATALOGUE[os].map((c) => c.id)).size).toBe(CATALOGUE[os].length);
    }
  });
});
