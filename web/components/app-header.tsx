import { DiskIcon, ShieldIcon } from './icons.tsx';
import { OpenImageButton } from './open-image.tsx';

export function AppHeader() {
  return (
    <header className="app-header">
      <div className="brand">
        <span className="brand-mark">
          <DiskIcon size={22} />
        </span>
        <div>
          <h1>Disk Image Studio</h1>
          <p className="tagline">Linux ext4 disk images, built, checked and edited in your browser.</p>
        </div>
      </div>
      <div className="header-actions">
        <OpenImageButton />
      </div>
      <p className="privacy-badge">
        <ShieldIcon size={18} />
        <span>Built in your browser — nothing is uploaded.</span>
      </p>
    </header>
  );
}
