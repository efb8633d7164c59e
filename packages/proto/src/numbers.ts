/**
 * 64-bit fields (versions, timestamps) are plain JS numbers on our side: values stay far below 2^53,
 * and Long objects would leak into every caller. protobufjs returns Long whenever `long` is
 * installed, so switch that off once, before any message is decoded.
 */
import $protobuf from 'protobufjs/minimal.js';

($protobuf.util as { Long: unknown }).Long = undefined;
$protobuf.configure();
