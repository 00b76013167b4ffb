"""A tiny pymodbus 3.0 server: an independent Modbus implementation for interoperability tests.

usage: pymodbus-server.py (--tcp PORT [--rtu-framing] | --serial PATH [--baud N] [--parity N|E|O])
                          --data JSON
JSON: {"<unit>": {"holding": [..], "input": [..], "coil": [0/1..], "discrete": [0/1..]}, ...}
Addresses are 0-based (zero_mode). Prints READY once it serves.
"""
import argparse
import asyncio
import json
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer


def block(values):
    values = list(values or [])
    return ModbusSequentialDataBlock(0, values + [0] * (200 - len(values)))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tcp", type=int)
    p.add_argument("--rtu-framing", action="store_true")
    p.add_argument("--serial")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--parity", default="N")
    p.add_argument("--data", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = json.loads(a.data)
    slaves = {
        int(u): ModbusSlaveContext(
            hr=block(d.get("holding")), ir=block(d.get("input")),
            co=block(d.get("coil")), di=block(d.get("discrete")), zero_mode=True)
        for u, d in data.items()
    }
    ctx = ModbusServerContext(slaves=slaves, single=False)
    if a.tcp:
        framer = ModbusRtuFramer if a.rtu_framing else ModbusSocketFramer
        server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", a.tcp), framer=framer,
                                           defer_start=True, ignore_missing_slaves=True)
        task = asyncio.create_task(server.serve_forever())
        while server.server is None:
            await asyncio.sleep(0.02)
        print("READY", flush=True)
        await task
    else:
        server = await StartAsyncSerialServer(context=ctx, port=a.serial, framer=ModbusRtuFramer,
                                              baudrate=a.baud, parity=a.parity, bytesize=8, stopbits=1,
                                              defer_start=True, ignore_missing_slaves=True)
        await server.start()
        if server.transport is None:  # pymodbus logs open errors at debug level only
            print(f"cannot open {a.serial}", flush=True)
            sys.exit(2)
        print("READY", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
