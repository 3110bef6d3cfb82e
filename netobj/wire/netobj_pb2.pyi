from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Frame(_message.Message):
    __slots__ = ("envelopes", "ack")
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedCompositeFieldContainer[Envelope]
    ack: int
    def __init__(self, envelopes: _Optional[_Iterable[_Union[Envelope, _Mapping]]] = ..., ack: _Optional[int] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("seq", "hello", "heartbeat", "call", "reply", "goodbye", "call_batch", "reply_batch", "var_register", "var_bind", "var_redirect", "var_need", "port_send", "mobile", "kill")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    CALL_BATCH_FIELD_NUMBER: _ClassVar[int]
    REPLY_BATCH_FIELD_NUMBER: _ClassVar[int]
    VAR_REGISTER_FIELD_NUMBER: _ClassVar[int]
    VAR_BIND_FIELD_NUMBER: _ClassVar[int]
    VAR_REDIRECT_FIELD_NUMBER: _ClassVar[int]
    VAR_NEED_FIELD_NUMBER: _ClassVar[int]
    PORT_SEND_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    hello: Hello
    heartbeat: Heartbeat
    call: Call
    reply: Reply
    goodbye: Goodbye
    call_batch: CallBatch
    reply_batch: ReplyBatch
    var_register: VarRegister
    var_bind: VarBind
    var_redirect: VarRedirect
    var_need: VarNeed
    port_send: PortSend
    mobile: Mobile
    kill: Kill
    def __init__(self, seq: _Optional[int] = ..., hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., call: _Optional[_Union[Call, _Mapping]] = ..., reply: _Optional[_Union[Reply, _Mapping]] = ..., goodbye: _Optional[_Union[Goodbye, _Mapping]] = ..., call_batch: _Optional[_Union[CallBatch, _Mapping]] = ..., reply_batch: _Optional[_Union[ReplyBatch, _Mapping]] = ..., var_register: _Optional[_Union[VarRegister, _Mapping]] = ..., var_bind: _Optional[_Union[VarBind, _Mapping]] = ..., var_redirect: _Optional[_Union[VarRedirect, _Mapping]] = ..., var_need: _Optional[_Union[VarNeed, _Mapping]] = ..., port_send: _Optional[_Union[PortSend, _Mapping]] = ..., mobile: _Optional[_Union[Mobile, _Mapping]] = ..., kill: _Optional[_Union[Kill, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("protocol_version", "site_id", "address", "expect_site_id", "last_received", "wrong_incarnation")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_SITE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    WRONG_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    site_id: str
    address: str
    expect_site_id: str
    last_received: int
    wrong_incarnation: bool
    def __init__(self, protocol_version: _Optional[int] = ..., site_id: _Optional[str] = ..., address: _Optional[str] = ..., expect_site_id: _Optional[str] = ..., last_received: _Optional[int] = ..., wrong_incarnation: _Optional[bool] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_ns", "echo_ns")
    SENT_NS_FIELD_NUMBER: _ClassVar[int]
    ECHO_NS_FIELD_NUMBER: _ClassVar[int]
    sent_ns: int
    echo_ns: int
    def __init__(self, sent_ns: _Optional[int] = ..., echo_ns: _Optional[int] = ...) -> None: ...

class Call(_message.Message):
    __slots__ = ("call_id", "key", "method", "args", "oneway")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ONEWAY_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    key: str
    method: str
    args: bytes
    oneway: bool
    def __init__(self, call_id: _Optional[int] = ..., key: _Optional[str] = ..., method: _Optional[str] = ..., args: _Optional[bytes] = ..., oneway: _Optional[bool] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("call_id", "value", "error")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    value: bytes
    error: bytes
    def __init__(self, call_id: _Optional[int] = ..., value: _Optional[bytes] = ..., error: _Optional[bytes] = ...) -> None: ...

class CallBatch(_message.Message):
    __slots__ = ("key", "first_call_id", "calls", "count", "method", "arity")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIRST_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ARITY_FIELD_NUMBER: _ClassVar[int]
    key: str
    first_call_id: int
    calls: bytes
    count: int
    method: str
    arity: int
    def __init__(self, key: _Optional[str] = ..., first_call_id: _Optional[int] = ..., calls: _Optional[bytes] = ..., count: _Optional[int] = ..., method: _Optional[str] = ..., arity: _Optional[int] = ...) -> None: ...

class ReplyBatch(_message.Message):
    __slots__ = ("outcomes", "first_call_id", "values")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    FIRST_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    outcomes: bytes
    first_call_id: int
    values: bytes
    def __init__(self, outcomes: _Optional[bytes] = ..., first_call_id: _Optional[int] = ..., values: _Optional[bytes] = ...) -> None: ...

class VarRegister(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class VarBind(_message.Message):
    __slots__ = ("key", "value", "failed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    failed: bool
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ..., failed: _Optional[bool] = ...) -> None: ...

class VarRedirect(_message.Message):
    __slots__ = ("key", "value", "failed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    failed: bool
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ..., failed: _Optional[bool] = ...) -> None: ...

class VarNeed(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class PortSend(_message.Message):
    __slots__ = ("key", "message")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    key: str
    message: bytes
    def __init__(self, key: _Optional[str] = ..., message: _Optional[bytes] = ...) -> None: ...

class Mobile(_message.Message):
    __slots__ = ("home", "key", "op", "req", "site_id", "address", "req2", "state", "failed", "status")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[Mobile.Op]
        GET: _ClassVar[Mobile.Op]
        FORWARD: _ClassVar[Mobile.Op]
        PUT: _ClassVar[Mobile.Op]
        INQUIRE: _ClassVar[Mobile.Op]
        STATUS: _ClassVar[Mobile.Op]
        LOST: _ClassVar[Mobile.Op]
        SUBSCRIBE: _ClassVar[Mobile.Op]
        INVALIDATE: _ClassVar[Mobile.Op]
        INVALID: _ClassVar[Mobile.Op]
        COMMIT: _ClassVar[Mobile.Op]
        RETURN: _ClassVar[Mobile.Op]
    OP_UNSPECIFIED: Mobile.Op
    GET: Mobile.Op
    FORWARD: Mobile.Op
    PUT: Mobile.Op
    INQUIRE: Mobile.Op
    STATUS: Mobile.Op
    LOST: Mobile.Op
    SUBSCRIBE: Mobile.Op
    INVALIDATE: Mobile.Op
    INVALID: Mobile.Op
    COMMIT: Mobile.Op
    RETURN: Mobile.Op
    HOME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REQ_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REQ2_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    home: str
    key: str
    op: Mobile.Op
    req: int
    site_id: str
    address: str
    req2: int
    state: bytes
    failed: bool
    status: str
    def __init__(self, home: _Optional[str] = ..., key: _Optional[str] = ..., op: _Optional[_Union[Mobile.Op, str]] = ..., req: _Optional[int] = ..., site_id: _Optional[str] = ..., address: _Optional[str] = ..., req2: _Optional[int] = ..., state: _Optional[bytes] = ..., failed: _Optional[bool] = ..., status: _Optional[str] = ...) -> None: ...

class Kill(_message.Message):
    __slots__ = ("home", "key", "reason")
    HOME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    home: str
    key: str
    reason: str
    def __init__(self, home: _Optional[str] = ..., key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Goodbye(_message.Message):
    __slots__ = ("reason", "permanent")
    REASON_FIELD_NUMBER: _ClassVar[int]
    PERMANENT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    permanent: bool
    def __init__(self, reason: _Optional[str] = ..., permanent: _Optional[bool] = ...) -> None: ...
