/**
 * The inventory snapshot (art10 inventory, art18 monitoring, art26 addresses, art30 patches): what the
 * agent reports about one terminal. The schema is the spec — agent collectors, server and docs import it.
 * Each section is collected on its own; a section that cannot be read on a host says why instead of
 * failing the whole snapshot.
 */
import { z } from 'zod';

const isoTime = z.string().describe('ISO 8601 timestamp in UTC');
const nullable = <T extends z.ZodType>(t: T, what: string) => t.nullable().describe(`${what}; null when the host does not tell`);

export const osSchema = z.object({
  platform: z.enum(['linux', 'win32', 'darwin']).describe('Node platform family of the host'),
  name: z.string().describe('Operating system product name, e.g. "Debian GNU/Linux", "Microsoft Windows 11 Pro", "macOS"'),
  version: nullable(z.string(), 'Product version, e.g. "12", "10.0.22631", "14.4.1"'),
  build: nullable(z.string(), 'Build identifier, e.g. Windows build number or macOS build "23E224"'),
  kernel: nullable(z.string(), 'Kernel release, e.g. "6.1.0-18-amd64", Darwin "23.4.0", NT version'),
  arch: nullable(z.string(), 'Machine architecture as the OS reports it, e.g. "x86_64", "arm64", "64-bit"'),
  hostname: nullable(z.string(), 'Host name as the OS reports it'),
  bootTime: nullable(isoTime, 'When the host last booted'),
}).describe('Operating system identity (art10)');

export const diskSchema = z.object({
  name: z.string().describe('Device name, e.g. "sda", "nvme0n1", "\\\\.\\PHYSICALDRIVE0", "disk0"'),
  model: nullable(z.string(), 'Disk model string'),
  serial: nullable(z.string(), 'Disk serial number'),
  sizeBytes: nullable(z.number().int().nonnegative(), 'Disk capacity in bytes'),
}).describe('One physical disk');

export const hardwareSchema = z.object({
  vendor: nullable(z.string(), 'System manufacturer (DMI sys_vendor, Win32_ComputerSystem.Manufacturer, "Apple Inc.")'),
  model: nullable(z.string(), 'System model / product name'),
  serial: nullable(z.string(), 'System serial number (DMI product_serial, BIOS serial, Mac serial)'),
  boardSerial: nullable(z.string(), 'Mainboard serial number'),
  cpu: z.object({
    model: nullable(z.string(), 'CPU model name'),
    cores: nullable(z.number().int().positive(), 'Physical cores'),
    logical: nullable(z.number().int().positive(), 'Logical processors (threads)'),
  }).describe('Processor'),
  memoryBytes: nullable(z.number().int().nonnegative(), 'Installed (or OS-visible) memory in bytes'),
  disks: z.array(diskSchema).describe('Physical disks; virtual block devices (loop, zram, dm) are left out'),
  notes: z.array(z.string()).describe('What could not be read and why (e.g. no DMI on a virtual machine)'),
}).describe('Hardware identity (art10)');

export const interfaceTypeSchema = z.enum(['ethernet', 'wifi', 'cellular', 'loopback', 'virtual', 'usb', 'other'])
  .describe('Kind of link: usb = USB network adapter/tethering (rndis, cdc_ether, cdc_ncm), cellular = WWAN modem');

export const addressSchema = z.object({
  family: z.enum(['ipv4', 'ipv6']).describe('Address family'),
  address: z.string().describe('Address without prefix or zone'),
  prefix: nullable(z.number().int().min(0).max(128), 'Prefix length'),
}).describe('One address on an interface');

export const interfaceSchema = z.object({
  name: z.string().describe('Interface name (eth0, en0, "Ethernet 2")'),
  mac: nullable(z.string(), 'Hardware address, lower-case colon form'),
  up: z.boolean().describe('Link is up (operstate up/unknown-with-carrier, Status Up, status: active)'),
  type: interfaceTypeSchema,
  driver: nullable(z.string(), 'Driver or adapter description the type was derived from'),
  addresses: z.array(addressSchema).describe('Configured addresses'),
}).describe('One network interface (art26)');

export const networkSchema = z.object({
  interfaces: z.array(interfaceSchema).describe('All interfaces, including down and virtual ones'),
  gateways: z.array(z.object({
    family: z.enum(['ipv4', 'ipv6']).describe('Address family of the route'),
    address: z.string().describe('Next hop address'),
    interface: nullable(z.string(), 'Outgoing interface'),
  }).describe('One default route')).describe('Default gateways'),
  dns: z.array(z.string()).describe('DNS server addresses, in resolver order, de-duplicated'),
}).describe('Network configuration (art26 addresses)');

export const accountSchema = z.object({
  name: z.string().describe('Account name'),
  id: z.string().describe('uid (Unix) or SID (Windows), as a string'),
  admin: z.boolean().describe('Has administrative rights: uid 0, sudo/wheel/admin member, Administrators (S-1-5-32-544) member'),
  disabled: nullable(z.boolean(), 'Account cannot log in (locked password, nologin shell, Enabled=false)'),
  shell: nullable(z.string(), 'Login shell'),
  home: nullable(z.string(), 'Home directory'),
}).describe('One local account');

export const sessionSchema = z.object({
  user: z.string().describe('Logged-in user'),
  tty: nullable(z.string(), 'Terminal or session name (pts/0, console, rdp-tcp#0)'),
  from: nullable(z.string(), 'Remote host or address'),
  since: nullable(isoTime, 'Login time (tools print local time without a zone: read in the host time zone at collection)'),
  state: nullable(z.string(), 'Session state (Active, Disc) where the tool tells'),
}).describe('One logged-in session');

export const usersSchema = z.object({
  accounts: z.array(accountSchema).describe('Local accounts'),
  sessions: z.array(sessionSchema).describe('Current sessions'),
}).describe('Local accounts and sessions (art10, art18)');

export const packageSchema = z.object({
  name: z.string().describe('Package or application name'),
  version: nullable(z.string(), 'Installed version'),
  arch: nullable(z.string(), 'Architecture'),
  publisher: nullable(z.string(), 'Publisher / vendor'),
  installedAt: nullable(isoTime, 'Install time where recorded'),
}).describe('One installed package');

export const softwareSchema = z.object({
  source: z.enum(['dpkg', 'rpm', 'registry', 'system_profiler']).describe('Where the list came from'),
  packages: z.array(packageSchema).describe('Installed packages, sorted by name'),
}).describe('Installed software (art10)');

export const patchesSchema = z.object({
  source: z.enum(['apt', 'dnf', 'hotfix', 'softwareupdate']).describe('Package manager or update store read'),
  installed: z.array(z.object({
    id: z.string().describe('Update id (KB number, package/update name)'),
    description: nullable(z.string(), 'Update kind or title'),
    installedAt: nullable(isoTime, 'Install time'),
  }).describe('One installed update')).describe('Installed updates where the OS records them (Windows hotfixes, macOS install history); empty on Linux'),
  pending: z.array(z.object({
    name: z.string().describe('Package or update name'),
    version: nullable(z.string(), 'Version that would be installed'),
    security: z.boolean().describe('The update comes from a security origin/advisory'),
    origin: nullable(z.string(), 'Repository origin or advisory id'),
  }).describe('One update known to be available')).describe('Pending updates, from local metadata only (art29: the agent never reaches the internet)'),
  pendingSecurity: nullable(z.number().int().nonnegative(), 'Count of pending security updates; null when local metadata cannot tell'),
  metadataUpdatedAt: nullable(isoTime, 'When the local update metadata was last refreshed (newest file in /var/lib/apt/lists, dnf cache); pending counts are only as fresh as this'),
  lastChangeAt: nullable(isoTime, 'Last change to the installed package set (e.g. mtime of /var/lib/dpkg/status)'),
}).describe('Patch state (art30)');

export const serviceSchema = z.object({
  name: z.string().describe('Service name (unit, service key, launchd label)'),
  displayName: nullable(z.string(), 'Human-readable name'),
  state: z.enum(['running', 'stopped', 'starting', 'stopping', 'paused', 'failed', 'unknown']).describe('Run state'),
  startup: nullable(z.enum(['automatic', 'manual', 'disabled', 'static', 'boot', 'system', 'other']), 'Start mode'),
}).describe('One service');

export const servicesSchema = z.object({
  manager: z.enum(['systemd', 'scm', 'launchd']).describe('Service manager read'),
  services: z.array(serviceSchema).describe('Services, sorted by name'),
}).describe('Services (art18)');

export const socketSchema = z.object({
  protocol: z.enum(['tcp', 'udp']).describe('Transport'),
  family: z.enum(['ipv4', 'ipv6']).describe('Address family'),
  address: z.string().describe('Local bind address ("0.0.0.0", "::", "*" for any)'),
  port: z.number().int().min(0).max(65535).describe('Local port'),
  pid: nullable(z.number().int().nonnegative(), 'Owning process'),
  process: nullable(z.string(), 'Owning process name'),
}).describe('One listening socket (TCP LISTEN, unconnected UDP)');

export const listeningSchema = z.object({
  sockets: z.array(socketSchema).describe('Listening sockets, sorted by protocol, port, address'),
}).describe('Listening sockets (art18)');

export const processSchema = z.object({
  pid: z.number().int().nonnegative().describe('Process id'),
  ppid: nullable(z.number().int().nonnegative(), 'Parent process id'),
  name: z.string().describe('Short process name'),
  path: nullable(z.string(), 'Executable path'),
  cmdline: nullable(z.string(), 'Command line, capped at 1024 characters'),
  user: nullable(z.string(), 'Owner (user name, or uid when the name is unknown)'),
  startTime: nullable(isoTime, 'Process start time'),
  sha256: nullable(z.string().regex(/^[0-9a-f]{64}$/), 'SHA-256 of the executable (skipped over the size cap, for deleted or foreign-tree files)'),
}).describe('One process');

export const processesSchema = z.object({
  processes: z.array(processSchema).describe('Processes, sorted by pid'),
  hashed: z.number().int().nonnegative().describe('Executables hashed in this run'),
  hashCacheHits: z.number().int().nonnegative().describe('Executables whose hash came from the (dev, inode, mtime, size) cache'),
}).describe('Running processes (art18)');

export const antimalwareProductSchema = z.object({
  product: z.string().describe('Product name (ClamAV, Microsoft Defender Antivirus, XProtect, third-party)'),
  present: z.boolean().describe('Installed on the host'),
  enabled: nullable(z.boolean(), 'Protection is on (daemon running, real-time protection, product state)'),
  upToDate: nullable(z.boolean(), 'The product itself reports its signatures as current'),
  signaturesVersion: nullable(z.string(), 'Signature / definitions version'),
  signaturesDate: nullable(isoTime, 'When the signatures were built or last updated'),
}).describe('One anti-malware product');

export const antimalwareSchema = z.object({
  products: z.array(antimalwareProductSchema).describe('Products found (a known product absent is listed with present=false)'),
}).describe('Anti-malware state (art18)');

/** A section: data, or why there is none. */
export function sectionSchema<T extends z.ZodType>(data: T) {
  return z.union([
    z.object({ status: z.literal('ok').describe('Collected'), data }),
    z.object({ status: z.enum(['unsupported', 'error']).describe('unsupported: not collected on this platform/host; error: collection failed'), reason: z.string().describe('One line a person can act on') }),
  ]);
}

export const inventorySections = {
  os: osSchema,
  hardware: hardwareSchema,
  network: networkSchema,
  users: usersSchema,
  software: softwareSchema,
  patches: patchesSchema,
  services: servicesSchema,
  listening: listeningSchema,
  processes: processesSchema,
  antimalware: antimalwareSchema,
} as const;

export type InventorySection = keyof typeof inventorySections;
export const inventorySectionNames = Object.keys(inventorySections) as InventorySection[];

export const inventorySnapshotSchema = z.object({
  collectedAt: isoTime.describe('When collection started'),
  os: sectionSchema(osSchema).describe('Operating system'),
  hardware: sectionSchema(hardwareSchema).describe('Hardware'),
  network: sectionSchema(networkSchema).describe('Network'),
  users: sectionSchema(usersSchema).describe('Accounts and sessions'),
  software: sectionSchema(softwareSchema).describe('Installed software'),
  patches: sectionSchema(patchesSchema).describe('Patches'),
  services: sectionSchema(servicesSchema).describe('Services'),
  listening: sectionSchema(listeningSchema).describe('Listening sockets'),
  processes: sectionSchema(processesSchema).describe('Processes'),
  antimalware: sectionSchema(antimalwareSchema).describe('Anti-malware'),
}).describe('One inventory snapshot of a terminal');

export const inventoryRunSchema = z.object({
  snapshot: inventorySnapshotSchema,
  durationsMs: z.record(z.string(), z.number().nonnegative()).describe('Wall time per collector in milliseconds (not part of the snapshot, so snapshots diff cleanly)'),
}).describe('Result of one inventory run');

export type OsData = z.infer<typeof osSchema>;
export type HardwareData = z.infer<typeof hardwareSchema>;
export type DiskData = z.infer<typeof diskSchema>;
export type NetworkData = z.infer<typeof networkSchema>;
export type InterfaceData = z.infer<typeof interfaceSchema>;
export type InterfaceType = z.infer<typeof interfaceTypeSchema>;
export type AddressData = z.infer<typeof addressSchema>;
export type UsersData = z.infer<typeof usersSchema>;
export type AccountData = z.infer<typeof accountSchema>;
export type SessionData = z.infer<typeof sessionSchema>;
export type SoftwareData = z.infer<typeof softwareSchema>;
export type PackageData = z.infer<typeof packageSchema>;
export type PatchesData = z.infer<typeof patchesSchema>;
export type ServicesData = z.infer<typeof servicesSchema>;
export type ServiceData = z.infer<typeof serviceSchema>;
export type ListeningData = z.infer<typeof listeningSchema>;
export type SocketData = z.infer<typeof socketSchema>;
export type ProcessesData = z.infer<typeof processesSchema>;
export type ProcessData = z.infer<typeof processSchema>;
export type AntimalwareData = z.infer<typeof antimalwareSchema>;
export type AntimalwareProduct = z.infer<typeof antimalwareProductSchema>;
export type InventorySnapshot = z.infer<typeof inventorySnapshotSchema>;
export type InventoryRun = z.infer<typeof inventoryRunSchema>;
