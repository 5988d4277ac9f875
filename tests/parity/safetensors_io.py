"""safetensors files written and read by hand (struct + json), since the safetensors wheel is not installable on
our machines. Only the dtypes the project uses: F32, F64 and I64."""
import json
import struct

import torch

DTYPES = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"), torch.int64: ("I64", "<i8")}
TORCH_DTYPES = {name: dtype for dtype, (name, _) in DTYPES.items()}


def write_safetensors(path, tensors):
    """Writes `tensors` (name -> tensor) with keys sorted and the header padded to 8 bytes, as safetensors does."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous()
        dtype, numpy_dtype = DTYPES[tensor.dtype]
        blob = tensor.numpy().astype(numpy_dtype).tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    """Returns (header, tensors by name, header length in bytes) of the file at `path`."""
    with open(path, "rb") as f:
        data = f.read()
    (header_length,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + header_length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        blob = bytearray(data[8 + header_length + begin:8 + header_length + end])
        tensors[name] = torch.frombuffer(blob, dtype=TORCH_DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return header, tensors, header_length
