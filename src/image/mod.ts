/**
 * Container images outside any engine: docker-save tarballs (the image ID, config and layers, read without
 * unpacking), SIF files recognised by content, registry references and credentials, and digests.
 * @module
 */
export {
  type ImageConfig,
  type ImageManifest,
  indexImageArchive,
  readImageManifest,
} from "./docker_archive.ts";
export { indexTar, readTarEntry, type TarEntry } from "./tar_index.ts";
export { Sha256, sha256File, sha256Of } from "./digest.ts";
export { hasSifMagic, isSifFile, SIF_MAGIC } from "./sif.ts";
export {
  DOCKER_HUB,
  DOCKER_SCHEME,
  isLoopbackRegistry,
  isRegistryHost,
  parseRegistryReference,
  referenceName,
  referenceString,
  registryApiHost,
  type RegistryReference,
  type RegistryReferenceResult,
  splitRegistry,
} from "./reference.ts";
export {
  credentialSecrets,
  credentialsFor,
  normaliseRegistryKey,
  parseRegistryAuth,
  readRegistryAuth,
  RegistryAuthError,
  type RegistryAuthFile,
  type RegistryCredentials,
} from "./registry_auth.ts";
export { ImageAbsentError, RegistryError } from "./registry_error.ts";
export { DEFAULT_PULL_POLICY, PULL_POLICIES, type PullPolicy } from "./pull_policy.ts";
export {
  readReferenceRecord,
  type ReferenceRecord,
  REFS_DIR,
  writeReferenceRecord,
} from "./reference_index.ts";
export {
  type Descriptor,
  hostPlatform,
  type PlatformManifest,
  RegistryClient,
  type RegistryClientOptions,
  type ResolvedImage,
} from "./registry_client.ts";
export { writeRegistryArchive } from "./registry_archive.ts";
export {
  describePreparedImage,
  describeSource,
  identifyImageFile,
  type ImageSource,
  isInsecureRegistry,
  type PreparedImage,
  type PrepareImageOptions,
  prepareSifFile,
} from "./source.ts";
