"""Responses written from the OUTPUT shapes of the models.

Handlers return plain dictionaries keyed by the model's member names (what
botocore hands its caller); this module turns them into the XML each
protocol uses: EC2's `<OpResponse><requestId>` with `item` lists, the Query
`<OpResponse><OpResult>...<ResponseMetadata>` with `member` lists, and
Route 53's `<OutputShapeName>` documents with header members.
"""
import base64
import datetime
import xml.etree.ElementTree as ET


def format_timestamp(value):
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (value.microsecond // 1000)
    return str(value)


class Serializer:
    def __init__(self, model):
        self.model = model

    def _scalar_text(self, shape, value):
        kind = shape["type"]
        if kind == "boolean":
            return "true" if value else "false"
        if kind == "timestamp":
            return format_timestamp(value)
        if kind == "blob":
            if isinstance(value, str):
                value = value.encode("utf-8")
            return base64.b64encode(value).decode("ascii")
        if kind in ("integer", "long"):
            return str(int(value))
        if kind in ("double", "float"):
            return repr(float(value))
        return str(value)

    def _write(self, parent, name, ref, value):
        shape = self.model.shape(ref["shape"])
        kind = shape["type"]
        if kind == "list":
            member_ref = shape["member"]
            if shape.get("flattened") or ref.get("flattened"):
                item_name = member_ref.get("locationName", name)
                for item in value:
                    self._write(parent, item_name, member_ref, item)
                return
            elem = ET.SubElement(parent, name)
            item_name = member_ref.get("locationName", "member")
            for item in value:
                self._write(elem, item_name, member_ref, item)
            return
        if kind == "map":
            elem = parent if shape.get("flattened") else ET.SubElement(parent, name)
            entry_name = name if shape.get("flattened") else "entry"
            for k, v in value.items():
                entry = ET.SubElement(elem, entry_name)
                self._write(entry, shape["key"].get("locationName", "key"), shape["key"], k)
                self._write(entry, shape["value"].get("locationName", "value"),
                            shape["value"], v)
            return
        elem = ET.SubElement(parent, name)
        if kind == "structure":
            self.write_members(elem, ref["shape"], value)
        else:
            elem.text = self._scalar_text(shape, value)

    def write_members(self, elem, shape_name, value):
        """Every member of value that the shape knows, in the model's order."""
        shape = self.model.shape(shape_name)
        members = shape.get("members", {})
        unknown = set(value) - set(members)
        if unknown:
            raise KeyError("%s has no member %s" % (shape_name, sorted(unknown)))
        for member_name, ref in members.items():
            if ref.get("location") or member_name not in value:
                continue
            member_value = value[member_name]
            if member_value is None:
                continue
            self._write(elem, ref.get("locationName", member_name), ref, member_value)

    def response(self, op_name, result, request_id):
        """(status, headers, body) of a successful call."""
        op = self.model.operations[op_name]
        ns = self.model.xml_namespace
        protocol = self.model.protocol
        headers = {"Content-Type": "text/xml;charset=UTF-8"}
        output = op.get("output")
        status = 200
        if protocol == "rest-xml":
            status = op["http"].get("responseCode", 200)
            headers["x-amzn-RequestId"] = request_id
            root_name = output["shape"] if output else op_name + "Response"
            root = ET.Element(root_name, xmlns=ns)
            if output:
                shape = self.model.shape(output["shape"])
                for member_name, ref in shape.get("members", {}).items():
                    if ref.get("location") == "header" and member_name in result:
                        headers[ref["locationName"]] = str(result[member_name])
                self.write_members(root, output["shape"], result)
        elif protocol == "ec2":
            root = ET.Element(op_name + "Response", xmlns=ns)
            ET.SubElement(root, "requestId").text = request_id
            if output:
                self.write_members(root, output["shape"], result)
        else:
            headers["x-amzn-RequestId"] = request_id
            root = ET.Element(op_name + "Response", xmlns=ns)
            if output:
                wrapper = ET.SubElement(root, output.get("resultWrapper", op_name + "Result"))
                self.write_members(wrapper, output["shape"], result)
            meta = ET.SubElement(root, "ResponseMetadata")
            ET.SubElement(meta, "RequestId").text = request_id
        return status, headers, _document(root)

    def error(self, err, request_id):
        """(status, headers, body) of an ApiError in this protocol's form."""
        headers = {"Content-Type": "text/xml;charset=UTF-8"}
        if self.model.protocol == "ec2":
            root = ET.Element("Response")
            errors = ET.SubElement(root, "Errors")
            e = ET.SubElement(errors, "Error")
            ET.SubElement(e, "Code").text = err.code
            ET.SubElement(e, "Message").text = err.message
            ET.SubElement(root, "RequestID").text = request_id
        else:
            headers["x-amzn-RequestId"] = request_id
            root = ET.Element("ErrorResponse", xmlns=self.model.xml_namespace)
            e = ET.SubElement(root, "Error")
            ET.SubElement(e, "Type").text = "Sender" if err.sender else "Receiver"
            ET.SubElement(e, "Code").text = err.code
            ET.SubElement(e, "Message").text = err.message
            ET.SubElement(root, "RequestId").text = request_id
        return err.status, headers, _document(root)


def _document(root):
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
