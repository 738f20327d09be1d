package org.asymdistill.client;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads the {@code asym_distill} document from a {@code .tflite} file: the TFLite schema's
 * {@code Model.metadata} entry of that name points at a {@code Model.buffers} entry holding the
 * JSON. The interpreter API does not expose metadata, so the FlatBuffer is walked directly; only
 * the three tables involved are read.
 */
public final class TfliteMetadata {
    // field numbers in the TFLite schema (schema.fbs)
    private static final int MODEL_BUFFERS = 4;
    private static final int MODEL_METADATA = 6;
    private static final int METADATA_NAME = 0;
    private static final int METADATA_BUFFER = 1;
    private static final int BUFFER_DATA = 0;
    private static final int BUFFER_OFFSET = 1;
    private static final int BUFFER_SIZE = 2;

    private TfliteMetadata() {
    }

    /** The metadata of the model in {@code model}; {@code where} names it in error messages. */
    public static ModelMetadata read(ByteBuffer model, String where) throws ClientException {
        return ModelMetadata.fromJson(readJson(model, where), where);
    }

    /** The raw JSON document stored under {@link ModelMetadata#KEY}. */
    public static String readJson(ByteBuffer model, String where) throws ClientException {
        ByteBuffer b = model.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        try {
            if (b.limit() < 8 || !"TFL3".equals(string(b, 4, 4))) {
                throw new ClientException(ClientException.Kind.BAD_MODEL, where + ": not a TFLite model");
            }
            int root = b.getInt(0);
            int entries = vector(b, root, MODEL_METADATA);
            int count = entries < 0 ? 0 : b.getInt(entries);
            for (int i = 0; i < count; i++) {
                int entry = indirect(b, entries + 4 + 4 * i);
                int name = vector(b, entry, METADATA_NAME);
                if (name >= 0 && ModelMetadata.KEY.equals(string(b, name + 4, b.getInt(name)))) {
                    return bufferText(b, root, scalarInt(b, entry, METADATA_BUFFER), where);
                }
            }
        } catch (IndexOutOfBoundsException | BufferUnderflowException e) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, where + ": truncated or corrupt TFLite file");
        }
        throw new ClientException(ClientException.Kind.BAD_MODEL,
                where + ": no " + ModelMetadata.KEY + " metadata; export the student with `distill export tflite`");
    }

    private static String bufferText(ByteBuffer b, int root, int index, String where) throws ClientException {
        int buffers = vector(b, root, MODEL_BUFFERS);
        if (buffers < 0 || index < 0 || index >= b.getInt(buffers)) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, where + ": metadata points at a missing buffer");
        }
        int buffer = indirect(b, buffers + 4 + 4 * index);
        int data = vector(b, buffer, BUFFER_DATA);
        if (data >= 0) {
            return string(b, data + 4, b.getInt(data));
        }
        int offset = field(b, buffer, BUFFER_OFFSET);
        int size = field(b, buffer, BUFFER_SIZE);
        if (offset == 0 || size == 0) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, where + ": metadata buffer is empty");
        }
        // models over 2 GB keep buffers after the FlatBuffer, addressed by offset and size
        return string(b, Math.toIntExact(b.getLong(buffer + offset)), Math.toIntExact(b.getLong(buffer + size)));
    }

    /** Position of field {@code id}'s value inside {@code table}, relative to the table; 0 if absent. */
    private static int field(ByteBuffer b, int table, int id) {
        int vtable = table - b.getInt(table);
        int vtableSize = b.getShort(vtable) & 0xffff;
        int slot = 4 + 2 * id;
        return slot < vtableSize ? b.getShort(vtable + slot) & 0xffff : 0;
    }

    /** Absolute position of the vector (its length word) held by field {@code id}, or -1. */
    private static int vector(ByteBuffer b, int table, int id) {
        int f = field(b, table, id);
        return f == 0 ? -1 : indirect(b, table + f);
    }

    private static int scalarInt(ByteBuffer b, int table, int id) {
        int f = field(b, table, id);
        return f == 0 ? 0 : b.getInt(table + f);
    }

    private static int indirect(ByteBuffer b, int at) {
        return at + b.getInt(at);
    }

    private static String string(ByteBuffer b, int at, int length) {
        byte[] bytes = new byte[length];
        ByteBuffer view = b.duplicate();
        view.position(at);
        view.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
