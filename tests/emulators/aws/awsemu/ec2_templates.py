"""EC2 launch templates: versions, $Latest / $Default."""
from .errors import ApiError


class TemplateMixin:
    def find_template(self, r, template_id=None, name=None):
        if template_id:
            t = r.launch_templates.get(template_id)
            if t is None:
                raise ApiError("InvalidLaunchTemplateId.NotFound", "The specified launch "
                               "template, with template ID %s, does not exist." % template_id)
            return t
        if name:
            for t in r.launch_templates.values():
                if t["LaunchTemplateName"] == name:
                    return t
            raise ApiError("InvalidLaunchTemplateName.NotFoundException", "The specified launch "
                           "template, with template name %s, does not exist." % name)
        raise ApiError("MissingParameter", "The request must contain the parameter "
                       "LaunchTemplateId or LaunchTemplateName")

    def template_version(self, t, version):
        if version in (None, "$Default"):
            number = t["DefaultVersionNumber"]
        elif version == "$Latest":
            number = t["LatestVersionNumber"]
        elif str(version).isdigit():
            number = int(version)
        else:
            raise ApiError("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch "
                           "template version %s for template %s" % (version,
                                                                    t["LaunchTemplateId"]))
        for v in t["_versions"]:
            if v["VersionNumber"] == number:
                return v
        raise ApiError("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch "
                       "template version %s for template %s" % (version, t["LaunchTemplateId"]))

    def _version_data(self, data):
        return self.model_conform(data, "ResponseLaunchTemplateData")

    def _describe_template(self, r, t):
        return self.with_tags(r, t, t["LaunchTemplateId"])

    def _describe_version(self, t, v):
        out = {k: val for k, val in v.items() if not k.startswith("_")}
        out["DefaultVersion"] = v["VersionNumber"] == t["DefaultVersionNumber"]
        return out

    def CreateLaunchTemplate(self, ctx, p):
        r = ctx.region
        token = p.get("ClientToken")
        replay = self.idempotent(r, "CreateLaunchTemplate", token, p)
        if replay is not None:
            return {"LaunchTemplate": self._describe_template(r, r.launch_templates[replay])}
        name = p["LaunchTemplateName"]
        if any(t["LaunchTemplateName"] == name for t in r.launch_templates.values()):
            raise ApiError("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template "
                           "name already in use.")
        template_id = self.ids.new("lt")
        created_by = "arn:aws:iam::%s:root" % ctx.account_id
        t = {"LaunchTemplateId": template_id, "LaunchTemplateName": name, "CreateTime": ctx.now,
             "CreatedBy": created_by, "DefaultVersionNumber": 1, "LatestVersionNumber": 1}
        version = {"LaunchTemplateId": template_id, "LaunchTemplateName": name,
                   "VersionNumber": 1, "CreateTime": ctx.now, "CreatedBy": created_by,
                   "LaunchTemplateData": self._version_data(p["LaunchTemplateData"])}
        if "VersionDescription" in p:
            version["VersionDescription"] = p["VersionDescription"]
        t["_versions"] = [version]
        r.launch_templates[template_id] = t
        self.tag_specs(r, p.get("TagSpecifications"), "launch-template", template_id)
        self.remember(r, "CreateLaunchTemplate", token, p, template_id)
        return {"LaunchTemplate": self._describe_template(r, t)}

    def CreateLaunchTemplateVersion(self, ctx, p):
        r = ctx.region
        t = self.find_template(r, p.get("LaunchTemplateId"), p.get("LaunchTemplateName"))
        data = {}
        if "SourceVersion" in p:
            data = dict(self.template_version(t, p["SourceVersion"])["LaunchTemplateData"])
        data.update(self._version_data(p["LaunchTemplateData"]))
        number = t["LatestVersionNumber"] + 1
        version = {"LaunchTemplateId": t["LaunchTemplateId"],
                   "LaunchTemplateName": t["LaunchTemplateName"], "VersionNumber": number,
                   "CreateTime": ctx.now, "CreatedBy": t["CreatedBy"],
                   "LaunchTemplateData": data}
        if "VersionDescription" in p:
            version["VersionDescription"] = p["VersionDescription"]
        t["_versions"].append(version)
        t["LatestVersionNumber"] = number
        return {"LaunchTemplateVersion": self._describe_version(t, version)}

    def ModifyLaunchTemplate(self, ctx, p):
        r = ctx.region
        t = self.find_template(r, p.get("LaunchTemplateId"), p.get("LaunchTemplateName"))
        if "DefaultVersion" in p:
            t["DefaultVersionNumber"] = self.template_version(
                t, p["DefaultVersion"])["VersionNumber"]
        return {"LaunchTemplate": self._describe_template(r, t)}

    def DeleteLaunchTemplate(self, ctx, p):
        r = ctx.region
        t = self.find_template(r, p.get("LaunchTemplateId"), p.get("LaunchTemplateName"))
        del r.launch_templates[t["LaunchTemplateId"]]
        out = self._describe_template(r, t)
        r.tags.pop(t["LaunchTemplateId"], None)
        return {"LaunchTemplate": out}

    def DescribeLaunchTemplates(self, ctx, p):
        r = ctx.region
        items = list(r.launch_templates.values())
        if p.get("LaunchTemplateIds"):
            items = [self.find_template(r, template_id=i) for i in p["LaunchTemplateIds"]]
        if p.get("LaunchTemplateNames"):
            items = [self.find_template(r, name=n) for n in p["LaunchTemplateNames"]]
        items = self.filtered(r, items, p.get("Filters"), {
            "launch-template-name": lambda t: t["LaunchTemplateName"],
            "create-time": lambda t: t["CreateTime"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }, lambda t: t["LaunchTemplateId"])
        page, token = self.paginate(items, p.get("MaxResults"), p.get("NextToken"), low=1,
                                    high=200)
        return {"LaunchTemplates": [self._describe_template(r, t) for t in page],
                "NextToken": token}

    def DescribeLaunchTemplateVersions(self, ctx, p):
        r = ctx.region
        if not p.get("LaunchTemplateId") and not p.get("LaunchTemplateName"):
            return self._describe_all_versions(r, p)
        t = self.find_template(r, p.get("LaunchTemplateId"), p.get("LaunchTemplateName"))
        if p.get("Versions"):
            versions = [self.template_version(t, v) for v in p["Versions"]]
        else:
            versions = list(t["_versions"])
        if "MinVersion" in p:
            versions = [v for v in versions if v["VersionNumber"] >= int(p["MinVersion"])]
        if "MaxVersion" in p:
            versions = [v for v in versions if v["VersionNumber"] <= int(p["MaxVersion"])]
        versions = self.filtered(r, versions, p.get("Filters"), self._version_filters(t),
                                 lambda v: t["LaunchTemplateId"])
        page, token = self.paginate(versions, p.get("MaxResults"), p.get("NextToken"), low=1,
                                    high=200)
        return {"LaunchTemplateVersions": [self._describe_version(t, v) for v in page],
                "NextToken": token}

    @staticmethod
    def _version_filters(t):
        return {
            "is-default-version":
                lambda v: v["VersionNumber"] == t["DefaultVersionNumber"],
            "image-id": lambda v: v["LaunchTemplateData"].get("ImageId"),
            "instance-type": lambda v: v["LaunchTemplateData"].get("InstanceType"),
        }

    def _describe_all_versions(self, r, p):
        """Without a template: the $Latest and/or $Default version of every template of
        the region, the only values AWS documents for this form (no numbers, no range)."""
        wanted = p.get("Versions") or []
        if not wanted or any(v not in ("$Latest", "$Default") for v in wanted) \
                or "MinVersion" in p or "MaxVersion" in p:
            raise ApiError("InvalidParameterValue", "To describe the versions of every launch "
                           "template, LaunchTemplateVersion must be $Latest and/or $Default")
        rows = []
        for t in sorted(r.launch_templates.values(), key=lambda x: x["LaunchTemplateId"]):
            seen = set()
            for name in wanted:
                v = self.template_version(t, name)
                if v["VersionNumber"] in seen:
                    continue
                seen.add(v["VersionNumber"])
                if self.filtered(r, [v], p.get("Filters"), self._version_filters(t),
                                 lambda _v, t=t: t["LaunchTemplateId"]):
                    rows.append((t, v))
        page, token = self.paginate(rows, p.get("MaxResults"), p.get("NextToken"), low=1,
                                    high=200)
        return {"LaunchTemplateVersions": [self._describe_version(t, v) for t, v in page],
                "NextToken": token}
