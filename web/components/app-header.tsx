import { DiskIcon, ShieldIcon } from './icons.tsx';

export function AppHeader() {
  return (
    <header className="app-header">
      <div className="brand">
        <span className="brand-mark"><DiskIcon size={22} /></span>
        <div>
          <h1>Disk Image Studio</h1>
          <p className="tagline">Linux ext4 disk images, built in your browser.</p>
        </div>
      </div>
      <p className="privacy-badge">
        <ShieldIcon size={18} />
        <span>Built in your browser — nothing is uploaded.</span>
      </p>
    </header>
  );
}
