import { z } from 'zod';
import { deviceTypeNames } from '../device-types/registry.js';

export const DEVICE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A LoRaWAN DevEUI as the catalog accepts it: 16 hex digits, either case (stored lowercase). */
export const DEV_EUI = /^[0-9a-fA-F]{16}$/;

/** One device in the catalog (CONTRACT §3). Secrets are stored only as salted scrypt hashes. */
export const deviceRecordSchema = z.strictObject({
  id: z.string().regex(DEVICE_ID, 'must match [A-Za-z0-9_.-]{1,64}'),
  type: z.enum(deviceTypeNames),
  location: z.strictObject({
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
  }),
  // Becomes an InfluxDB tag value: line protocol cannot carry a line break, and a value ending in a
  // backslash cannot be written at all, so both are refused here rather than at write time.
  district: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[^\\\r\n\t]*$/, 'must not contain a backslash, tab or line break'),
  address: z.string().max(256).optional(),
  reportingIntervalS: z.number().int().min(1).max(7 * 24 * 3600).default(900),
  attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /**
   * A sensor behind a LoRaWAN network server (CONTRACT §7): its uplinks are found by DevEUI and decoded
   * with the codec of `model`. Such a device has no MQTT secret. That the model exists and measures
   * this record's type is checked with the catalog (`lorawanProblems`), not here: the schema knows no
   * registry of models.
   */
  lorawan: z
    .strictObject({
      // Lowercase in memory: ChirpStack writes DevEUIs in lowercase, The Things Stack in uppercase.
      devEui: z.string().regex(DEV_EUI, 'must be 16 hex digits (the DevEUI, e.g. 24e124713c215987)').toLowerCase(),
      model: z.string().min(1).max(64),
    })
    .optional(),
  /** `scrypt$N$r$p$salt$hash` (base64url); absent = the device has no secret yet. */
  secretHash: z.string().startsWith('scrypt$').optional(),
  /**
   * When the device was revoked (`citypipe devices revoke`): it can no longer connect, by secret or
   * by certificate, until `citypipe devices rotate-secret` issues it a new secret.
   */
  revokedAt: z.iso.datetime({ offset: true }).optional(),
});

export type DeviceRecord = z.output<typeof deviceRecordSchema>;
