/**
 * HTTPS served by the service itself (CRS_TLS_CERT_PATH and CRS_TLS_KEY_PATH). Campaign delivers
 * webhooks only to HTTPS on port 443, so a service that Campaign reaches directly needs it; behind a
 * TLS-terminating proxy or load balancer both stay unset (docs/service.md, "Running in production").
 * A renewed certificate is loaded on SIGHUP without dropping connections (main.ts).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  /** PEM: the server certificate first, then its intermediates. */
  certPath: string;
  /** PEM private key of that certificate, unencrypted. */
  keyPath: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  subject: string;
  /** End of the server certificate's validity. */
  validTo: Date;
}

/** A certificate/key pair that cannot be served; `file` says which of the two is at fault. */
export class TlsFileError extends Error {
  constructor(
    readonly file: 'cert' | 'key',
    message: string,
  ) {
    super(message);
    this.name = 'TlsFileError';
  }
}

function read(path: string, file: 'cert' | 'key'): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsFileError(file, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Reads the pair and checks it as the server will use it: a PEM certificate, an unencrypted PEM key,
 * and the key belongs to the certificate. Throws a one-line TlsFileError otherwise.
 */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = read(files.certPath, 'cert');
  const key = read(files.keyPath, 'key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('cert', `${files.certPath} holds no PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsFileError('key', `${files.keyPath} holds no unencrypted PEM private key`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFileError('key', `${files.keyPath} is not the private key of the certificate in ${files.certPath}`);
  }
  try {
    createSecureContext({ cert, key }); // exactly what the server does with them
  } catch (err) {
    throw new TlsFileError('cert', `${files.certPath}: ${(err as Error).message.replace(/\s+/g, ' ')}`);
  }
  return { cert, key, subject: leaf.subject.replace(/\n/g, ', '), validTo: new Date(leaf.validTo) };
}
